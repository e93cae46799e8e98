"""A node for catalog tests: a real database, repositories, an account and the indexer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from oms.db.database import Database
from oms.library.index import CatalogIndexer
from oms.pds import accounts
from oms.pds.blobs import store_upload
from oms.pds.dagcbor import cid_for, cid_to_str
from oms.pds.keystore import KeyStore
from oms.pds.lexicons import load_lexicons
from oms.pds.repo import CommitResult, Repos, Write
from oms.resources import lexicons_dir

TRACK = "fm.oms.track"
RELEASE = "fm.oms.release"
PROFILE = "fm.oms.artist.profile"
LIKE = "fm.oms.like"
# A well-formed CID for references whose target need not exist.
SOME_CID = cid_to_str(cid_for({"some": "record"}))


class Catalog:
    def __init__(self, tmp_path: Path, db: Database, repos: Repos, indexer: CatalogIndexer) -> None:
        self.tmp_path, self.db, self.repos, self.indexer = tmp_path, db, repos, indexer
        self.n = 0
        self._audio: dict[str, dict[str, Any]] = {}

    async def account(self, name: str) -> str:
        account = await accounts.create_account(
            self.db, self.repos.keys, name=name, password="correct horse", role="artist",
            hostname="x.org",
        )  # fmt: skip
        return account.did

    async def audio(self, did: str) -> dict[str, Any]:
        if did not in self._audio:

            async def chunks() -> AsyncIterator[bytes]:
                yield b"fLaC" + b"\x00" * 64

            ref = await store_upload(
                self.db, self.tmp_path / "blobs", did, "audio/flac", chunks(), 10_000
            )
            self._audio[did] = ref.to_json()
        return self._audio[did]

    def rkey(self) -> str:
        self.n += 1
        return f"3k{self.n:011d}"

    async def track_value(self, did: str, title: str, **fields: Any) -> dict[str, Any]:
        value: dict[str, Any] = {
            "title": title,
            "artists": [{"name": "Someone", "role": "primary"}],
            "audio": await self.audio(did),
            "license": "cc-by-4.0",
            "visibility": "public",
            "createdAt": "2024-05-01T12:00:00.000Z",
        }
        value.update(fields)
        return {k: v for k, v in value.items() if v is not None}

    async def put(
        self, did: str, collection: str, rkey: str, value: dict[str, Any], *, update: bool = False
    ) -> CommitResult:
        return await self.repos.apply_writes(
            did, [Write("update" if update else "create", collection, rkey, value)],
            validate=False,
        )  # fmt: skip

    async def track(self, did: str, title: str, **fields: Any) -> str:
        rkey = self.rkey()
        await self.put(did, TRACK, rkey, await self.track_value(did, title, **fields))
        return f"at://{did}/{TRACK}/{rkey}"

    async def delete(self, uri: str) -> None:
        did, collection, rkey = uri.removeprefix("at://").split("/")
        await self.repos.apply_writes(did, [Write("delete", collection, rkey)])


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[Catalog]:
    keys = KeyStore(tmp_path / "keys")
    keys.prepare()
    (tmp_path / "blobs").mkdir()
    db = await Database.open(tmp_path / "oms.sqlite3")
    repos = Repos(db, keys, load_lexicons(lexicons_dir()))
    indexer = CatalogIndexer(db, repos.lexicons)
    try:
        yield Catalog(tmp_path, db, repos, indexer)
    finally:
        await indexer.stop()
        repos.close()
        await db.close()
