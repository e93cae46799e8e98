"""The demo catalog (`oms serve --demo`): a short album of music made by ffmpeg from formulas,
published under a demo artist, so a new node has something to play at once.

Each piece is a plucked pentatonic melody over a slow bass line (ffmpeg's `aevalsrc`), faded in
and out, written as FLAC with its tags and a generated cover, then published by the same
`Importer` as `oms import` — so the demo also walks the whole upload path: blobs, signed
records, the catalog index and the HLS ladder. Nothing is downloaded; the audio is free of
anyone's rights (CC0).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from oms.db.database import Database
from oms.errors import NotFound, StartupError
from oms.library.importer import Importer, ImportOptions, find_artist
from oms.library.records import ARTIST_PROFILE, TRACK
from oms.media.run import RunLimits, run_ffmpeg
from oms.pds import accounts
from oms.pds.dagcbor import JsonValue
from oms.pds.repo import Write

__all__ = [
    "DEMO_HANDLE",
    "DEMO_PIECES",
    "AccountMaker",
    "DemoPiece",
    "DemoSeed",
    "seed_demo",
    "write_demo_album",
]

log = logging.getLogger(__name__)

# Makes the demo artist's account (an artist with a password nobody is told) from its name.
AccountMaker = Callable[[str], Awaitable[accounts.Account]]

DEMO_HANDLE = "demo"  # the account's name under the node's host: demo.<host>
_ARTIST = "OMS Demo"
_ALBUM = "Open Air Sketches"
_GENRE = "Ambient"
_YEAR = "2026"
_LIMITS = RunLimits(time_limit_s=120)
# Semitones of the major pentatonic scale, and the bass's I-vi-IV-V walk, as expressions.
_SCALE = "if(eq({d},0),0,if(eq({d},1),2,if(eq({d},2),4,if(eq({d},3),7,9))))"
_WALK = "if(eq({c},0),0,if(eq({c},1),-3,if(eq({c},2),5,7)))"


@dataclass(frozen=True)
class DemoPiece:
    title: str
    root_hz: float  # the melody's tonic
    notes_per_s: float
    step: int  # how the melody walks the scale: degree = note * step + bar (mod 5)
    decay: float  # how fast a note fades (per note length)
    seconds: int  # long enough to count as a play (30 s) and to show a retention curve
    colours: tuple[str, str]  # the cover's gradient

    def expression(self) -> str:
        """The sample value at time t (s), between -0.5 and 0.5."""
        note = f"floor(t*{self.notes_per_s})"
        within = f"mod(t*{self.notes_per_s},1)"  # 0 to 1 across a note
        degree = f"mod({note}*{self.step}+floor({note}/8),5)"
        semitones = _SCALE.format(d=degree) + f"+12*mod(floor({note}/4),2)"
        pitch = f"{self.root_hz}*pow(2,({semitones})/12)"
        # A short attack hides the jump in phase where one note's pitch gives way to the next.
        pluck = f"min({within}*40,1)*exp(-{within}*{self.decay})"
        bar = f"mod(t*{self.notes_per_s}/8,1)"
        swell = f"min({bar}*20,1)*min((1-{bar})*20,1)"
        bass = f"{self.root_hz / 2}*pow(2,({_WALK.format(c=f'mod(floor({note}/8),4)')})/12)"
        return (
            f"0.22*{pluck}*(sin(2*PI*{pitch}*t)+0.3*sin(4*PI*{pitch}*t))"
            f"+0.12*{swell}*sin(2*PI*{bass}*t)"
        )


DEMO_PIECES = (
    DemoPiece("First Light", 220.0, 2.5, 3, 4.0, 40, ("0x1d3557", "0xe76f51")),
    DemoPiece("Harbour at Dusk", 196.0, 2.0, 2, 3.0, 44, ("0x264653", "0xe9c46a")),
    DemoPiece("Paper Lanterns", 261.63, 3.0, 4, 5.0, 36, ("0x6d597a", "0xffb4a2")),
    DemoPiece("Slow Tide", 174.61, 1.5, 1, 2.0, 48, ("0x003049", "0x8ecae6")),
)


@dataclass(frozen=True)
class DemoSeed:
    """What `seed_demo` did: published the album now, or found the demo artist's tracks."""

    handle: str
    did: str
    tracks: int
    published: bool


async def _ffmpeg(ffmpeg: Path, args: list[str], what: str) -> None:
    run = await run_ffmpeg(
        ffmpeg, ["-hide_banner", "-loglevel", "level+error", *args], limits=_LIMITS
    )
    if run.returncode != 0:
        raise StartupError(f"could not make the demo's {what}: {run.reason()}")


async def _write_piece(ffmpeg: Path, folder: Path, number: int, piece: DemoPiece) -> Path:
    cover = folder / f".cover-{number}.png"  # hidden: the importer takes audio files only
    start, end = piece.colours
    await _ffmpeg(
        ffmpeg,
        ["-y", "-f", "lavfi", "-i",
         f"gradients=s=600x600:c0={start}:c1={end}:x0=0:y0=0:x1=600:y1=600:d=1",
         "-frames:v", "1", str(cover)],
        f"cover for {piece.title!r}",
    )  # fmt: skip
    path = folder / f"{number:02d} {piece.title}.flac"
    fade_out = piece.seconds - 3
    tags = {
        "title": piece.title,
        "artist": _ARTIST,
        "album_artist": _ARTIST,
        "album": _ALBUM,
        "track": f"{number}/{len(DEMO_PIECES)}",
        "date": _YEAR,
        "genre": _GENRE,
        "comment": "Made by ffmpeg from a formula for the OMS demo; CC0.",
    }
    metadata = [arg for key, value in tags.items() for arg in ("-metadata", f"{key}={value}")]
    await _ffmpeg(
        ffmpeg,
        ["-y", "-f", "lavfi", "-i",
         f"aevalsrc=exprs='{piece.expression()}':s=44100:d={piece.seconds}",
         "-i", str(cover), "-map", "0:a", "-map", "1:v", "-c:v", "copy",
         "-disposition:v", "attached_pic",
         "-af", f"afade=t=in:d=1,afade=t=out:st={fade_out}:d=3", "-ac", "2",
         *metadata, "-c:a", "flac", str(path)],
        f"track {piece.title!r}",
    )  # fmt: skip
    cover.unlink()
    return path


async def write_demo_album(ffmpeg: Path, folder: Path, jobs: int = 2) -> list[Path]:
    """Write the demo album's FLAC files (tags and cover included) into `folder`."""
    limit = asyncio.Semaphore(max(1, jobs))

    async def one(number: int, piece: DemoPiece) -> Path:
        async with limit:
            return await _write_piece(ffmpeg, folder, number, piece)

    return list(await asyncio.gather(*(one(n, p) for n, p in enumerate(DEMO_PIECES, start=1))))


async def _demo_account(db: Database, hostname: str, create: AccountMaker) -> accounts.Account:
    try:
        return await accounts.get_account(db, accounts.handle_for(DEMO_HANDLE, hostname))
    except NotFound:
        return await create(DEMO_HANDLE)


async def seed_demo(
    importer: Importer,
    *,
    hostname: str,
    create_account: AccountMaker,
    jobs: int = 2,
) -> DemoSeed:
    """Publish the demo album under the demo artist, unless that artist has tracks already
    (a second `--demo` start, or an artist the operator reused). `create_account(name)`
    makes the artist account when there is none."""
    db, repos = importer.db, importer.repos
    account = await _demo_account(db, hostname, create_account)
    tracks, _ = await repos.list_records(
        account.did, TRACK, limit=len(DEMO_PIECES), cursor=None, reverse=False
    )
    if tracks:
        return DemoSeed(account.handle, account.did, len(tracks), published=False)
    try:
        await repos.get_record(account.did, ARTIST_PROFILE, "self")
    except NotFound:
        profile: dict[str, JsonValue] = {
            "$type": ARTIST_PROFILE,
            "displayName": _ARTIST,
            "bio": "Generated music that comes with every OMS node's demo: play it, then "
            "bring your own (oms import, or the creator portal).",
            "genres": [_GENRE],
        }
        await repos.apply_writes(
            account.did, [Write("create", ARTIST_PROFILE, "self", profile)], validate=True
        )
    artist = await find_artist(db, repos, account.handle, hostname)
    with tempfile.TemporaryDirectory(prefix="oms-demo-") as scratch:
        folder = Path(scratch)
        await write_demo_album(importer.ffmpeg, folder, jobs)
        report = await importer.import_folder(
            artist, folder, ImportOptions(license="cc0-1.0", jobs=jobs)
        )
    if report.failed:
        reasons = "; ".join(f"{f.path}: {f.detail}" for f in report.files if f.status == "failed")
        raise StartupError(f"the demo album could not be published: {reasons}")
    log.info("demo album published: %d tracks by @%s", len(report.tracks), account.handle)
    return DemoSeed(account.handle, account.did, len(report.tracks), published=True)
