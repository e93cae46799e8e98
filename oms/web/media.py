"""`/hls/<did>/<audio blob CID>/…`: the HLS ladder, waveform and embedded cover of a track's
audio, served straight from the data directory; and `/img/<did>/<cid>/<px>.jpg`, the sized
artwork of catalog entries.

Everything under an address is immutable (the CID names the audio), so public files are
cached for a year; playlists are gzipped for clients that accept it; segments answer Range
requests; any origin may fetch (other nodes' players stream from here). Audio that only
unlisted tracks use needs the signed `t` parameter its track view carries; its playlists are
rewritten so every address inside carries it too. `/download/<did>/<audio blob CID>` is the
original master, for tracks whose artist allows downloads, named after the track.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import unicodedata
from pathlib import Path
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from oms.context import AppContext
from oms.errors import InvalidRequest, OmsError
from oms.library.images import artwork_referenced, sized_artwork
from oms.library.ingest import media_dir
from oms.library.streams import (
    STREAM_KEY_NAME,
    download_filename,
    download_offer,
    stream_access,
    valid_stream_token,
)
from oms.pds.blobs import open_blob, served_mime_type
from oms.pds.syntax import is_valid_cid, is_valid_did

__all__ = ["download", "hls_file", "hls_preflight", "image"]

_FILE = re.compile(
    r"master\.m3u8|waveform\.json|cover/(?:64|300|600|1200)\.jpg"
    r"|(?:aac64|aac128|aac256|flac)/(?:index\.m3u8|init\.mp4|seg-\d{1,6}\.m4s)"
)
_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "audio/mp4",
    ".mp4": "audio/mp4",
    ".json": "application/json",
    ".jpg": "image/jpeg",
}
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, ETag",
}
_PUBLIC_CACHE = "public, max-age=31536000, immutable"
_IMAGE_SIZES = {"64", "300", "600", "1200"}
_PRIVATE_CACHE = "private, max-age=3600"


def _did_of(request: Request) -> str:
    """The DID segment of /hls/… or /img/…. A did:web with a port holds "%3A": it is read
    from the undecoded path, where it is escaped as "%253A", so no layer's decoding can turn
    it into a colon."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and raw.count(b"/") >= 3:
        return unquote(raw.split(b"/")[2].decode("ascii", "replace"))
    return str(request.path_params["did"])


def _not_found(message: str) -> JSONResponse:
    return JSONResponse({"error": "NotFound", "message": message}, 404, headers=_CORS)


def _error(error: OmsError) -> JSONResponse:
    return JSONResponse({"error": error.name, "message": error.message}, error.status, _CORS)


def _locate(folder: Path, name: str) -> Path | None:
    """The file for `name`, or None. Covers are never upscaled: a size the picture is too
    small for is served as the largest size there is."""
    wanted = folder / name
    if wanted.is_file():
        return wanted
    if not name.startswith("cover/"):
        return None
    sizes = sorted((int(p.stem), p) for p in (folder / "cover").glob("*.jpg") if p.stem.isdigit())
    return sizes[-1][1] if sizes else None


def _with_token(playlist: str, token: str) -> str:
    lines = []
    for line in playlist.splitlines():
        if line and not line.startswith("#"):
            line = f"{line}?t={token}"
        elif 'URI="' in line:
            line = re.sub(r'URI="([^"?]+)"', rf'URI="\1?t={token}"', line)
        lines.append(line)
    return "\n".join(lines) + "\n"


async def hls_file(request: Request) -> Response:
    context: AppContext = request.state.context
    did, cid, name = _did_of(request), request.path_params["cid"], request.path_params["path"]
    if not _FILE.fullmatch(name):
        return _not_found(f"no such stream file: {name}")
    try:
        folder = media_dir(context.hls_dir, did, cid)
    except InvalidRequest as e:
        return _not_found(e.message)
    access = await stream_access(context.db, did, cid)
    if access is None:
        return _not_found("no stream for this audio (not ready, or no track uses it)")
    token = request.query_params.get("t", "")
    if access == "unlisted":
        secret = context.keys.secret(STREAM_KEY_NAME)
        if not valid_stream_token(secret, did, cid, token):
            return JSONResponse(
                {"error": "Forbidden", "message": "this stream needs a valid, unexpired address"},
                403,
                headers=_CORS,
            )
    path = await asyncio.to_thread(_locate, folder, name)
    if path is None:
        return _not_found(f"no such stream file: {name}")
    suffix = path.suffix
    headers = {**_CORS, "Cache-Control": _PUBLIC_CACHE if access == "public" else _PRIVATE_CACHE}
    if suffix == ".m3u8":
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        if access == "unlisted":
            text = _with_token(text, token)
        body = text.encode("utf-8")
        headers["Vary"] = "Accept-Encoding"
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=_TYPES[suffix], headers=headers)
    return FileResponse(path, media_type=_TYPES[suffix], headers=headers)


async def image(request: Request) -> Response:
    """`/img/<did>/<cid>/<px>.jpg`: a catalog entry's artwork, sized."""
    context: AppContext = request.state.context
    did, cid, size = _did_of(request), request.path_params["cid"], request.path_params["size"]
    if size not in _IMAGE_SIZES or not is_valid_cid(cid) or "/" in cid:
        return _not_found("no such image size or blob")
    if not await artwork_referenced(context.db, did, cid):
        return _not_found("no catalog entry uses this image")
    path = await sized_artwork(context.blobs_dir, context.data_dir / "img", cid, int(size))
    if path is None:
        return _not_found("the blob is not a usable image")
    headers = {**_CORS, "Cache-Control": _PUBLIC_CACHE}
    return FileResponse(path, media_type="image/jpeg", headers=headers)


async def hls_preflight(request: Request) -> Response:
    return Response(
        status_code=204,
        headers={
            **_CORS,
            "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
            "Access-Control-Allow-Headers": "Range",
            "Access-Control-Max-Age": "86400",
        },
    )


def _content_disposition(filename: str) -> str:
    """`attachment` with the name as RFC 6266 asks: an ASCII `filename` every client reads,
    and the exact UTF-8 name as `filename*` (RFC 8187) when it is not plain ASCII."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    ascii_name = re.sub(r'[^\x20-\x7e]|["\\%]', "_", ascii_name)
    if not ascii_name.strip(" ._") or ascii_name.startswith("."):
        ascii_name = "audio" + ("." + filename.rsplit(".", 1)[-1] if "." in filename else "")
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


async def download(request: Request) -> Response:
    """`/download/<did>/<cid>`: the original audio, when a track using it allows downloads."""
    context: AppContext = request.state.context
    did, cid = _did_of(request), request.path_params["cid"]
    if not is_valid_did(did) or not is_valid_cid(cid) or "/" in cid:
        return _not_found("not a DID and an audio blob CID")
    try:
        offer = await download_offer(context.db, did, cid)
        if offer.access == "unlisted":
            secret = context.keys.secret(STREAM_KEY_NAME)
            if not valid_stream_token(secret, did, cid, request.query_params.get("t", "")):
                return JSONResponse(
                    {
                        "error": "Forbidden",
                        "message": "this download needs a valid, unexpired address",
                    },
                    403,
                    headers=_CORS,
                )
        blob = await open_blob(context.db, context.blobs_dir, did, cid)
    except OmsError as e:
        return _error(e)
    etag = f'"{cid}"'
    filename = download_filename(offer.artist, offer.title, blob.mime_type)
    headers = {
        **_CORS,
        "ETag": etag,
        "Content-Disposition": _content_disposition(filename),
        # The bytes never change under their CID; whether the artist still allows the
        # download may, so caches keep it for a day at most.
        "Cache-Control": "public, max-age=86400" if offer.access == "public" else _PRIVATE_CACHE,
        "X-Content-Type-Options": "nosniff",
    }
    candidates = {
        t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")
    }
    if etag in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    return FileResponse(blob.path, media_type=served_mime_type(blob.mime_type), headers=headers)
