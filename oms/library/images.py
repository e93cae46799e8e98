"""Artwork addresses: the sized copies of an image blob that a catalog entry (a track's or
release's artwork, an artist's avatar or banner) references, made on first request and kept
in `<data>/img/<cid>/` (the CID names the picture, so the copies never change)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path

from oms.db.database import Database
from oms.media.artwork import make_artwork
from oms.media.failures import InvalidMedia
from oms.pds.blobs import blob_path

__all__ = ["SIZES", "artwork_referenced", "sized_artwork"]

SIZES = (1200, 600, 300, 64)


async def artwork_referenced(db: Database, did: str, cid: str) -> bool:
    """Whether a catalog entry of `did` uses the image blob `cid` as artwork."""
    row = await db.fetchone(
        "SELECT EXISTS (SELECT 1 FROM tracks WHERE did = :did AND artwork_cid = :cid)"
        " OR EXISTS (SELECT 1 FROM releases WHERE did = :did AND artwork_cid = :cid)"
        " OR EXISTS (SELECT 1 FROM artists WHERE did = :did"
        " AND (avatar_cid = :cid OR banner_cid = :cid))",
        {"did": did, "cid": cid},
    )
    return bool(row and row[0])


def _make(source: Path, folder: Path) -> None:
    partial = folder.with_name(f".{folder.name}.{secrets.token_hex(4)}")
    try:
        make_artwork(source.read_bytes(), partial, SIZES)
        try:
            os.rename(partial, folder)
        except OSError:
            if not folder.is_dir():  # not a concurrent request that made them first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _sized(blobs_dir: Path, img_dir: Path, cid: str, px: int) -> Path | None:
    folder = img_dir / cid
    if not folder.is_dir():
        source = blob_path(blobs_dir, cid)
        if not source.is_file():
            return None
        img_dir.mkdir(parents=True, exist_ok=True)
        try:
            _make(source, folder)
        except InvalidMedia:
            return None
    wanted = folder / f"{px}.jpg"
    if wanted.is_file():
        return wanted
    made = sorted((int(p.stem), p) for p in folder.glob("*.jpg") if p.stem.isdigit())
    smaller = [p for size, p in made if size <= px]
    return (smaller or [p for _, p in made])[-1] if made else None


async def sized_artwork(blobs_dir: Path, img_dir: Path, cid: str, px: int) -> Path | None:
    """The copy of image `cid` fitted within `px` (the largest there is when the picture is
    smaller; never upscaled), made on first use; None when the blob is not a usable image."""
    return await asyncio.to_thread(_sized, blobs_dir, img_dir, cid, px)
