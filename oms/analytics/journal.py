"""The listening journal: append-only files in the data dir (`journal/`) that each accepted
report is written to before the player is answered. The recorder moves the journal into the
database in batches and records, in the same transaction, how far it got; at the next start
whatever it had not moved is replayed. A write to the journal survives the node's crash just
as a database commit does (the database runs WAL with synchronous=NORMAL: neither is synced
to the disk per report, so both can lose their last moments to a power cut, not to a crash).

A file holds one report a line, a JSON array of the report's fields (ranges as [start, end]
pairs). Files are numbered by generation; a new one is begun when the current one has grown
past `ROTATE_BYTES`, and a file is deleted once every report in it is in the database.

Pure file work: the recorder decides when to move and keeps the position in the database."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from oms.analytics.reports import Report

__all__ = [
    "ROTATE_BYTES",
    "Journal",
    "Position",
    "decode",
    "encode",
    "generations",
    "remove_before",
    "unmoved",
]

log = logging.getLogger(__name__)

ROTATE_BYTES = 8 * 1024 * 1024
_FILE = re.compile(r"^listening-(\d{8})\.jsonl$")
_NAMES = Report._fields
_RANGES = _NAMES.index("ranges")
# Made once: json.dumps with any option builds a new encoder at every call. A report (a
# tuple of numbers, strings and pairs of numbers) cannot hold itself: no circularity check.
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)
# What each field must be for the database to take it (ranges are checked as they are read).
_KINDS: dict[str, type | tuple[type, ...]] = {
    **{name: str for name in _NAMES if name != "ranges"},
    **{name: int for name in ("received_at", "beyond_s", "sent_at")},
    **{name: (int, type(None)) for name in ("length_s", "position_s")},
}


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A place in the journal: `offset` bytes into the file of `generation`."""

    generation: int
    offset: int


def _path(folder: Path, generation: int) -> Path:
    return folder / f"listening-{generation:08d}.jsonl"


def encode(report: Report) -> bytes:
    """`report` as one journal line."""
    return (_ENCODER.encode(report) + "\n").encode()


def decode(line: bytes) -> Report:
    """A journal line back as the report; ValueError when it is not one."""
    try:
        values = json.loads(line)
        values[_RANGES] = tuple((int(start), int(end)) for start, end in values[_RANGES])
        report = Report._make(values)
    except (ValueError, TypeError, IndexError, KeyError) as e:
        raise ValueError(f"not a journal line: {e}") from e
    for name, kinds in _KINDS.items():
        if not isinstance(getattr(report, name), kinds):
            raise ValueError(f"not a journal line: {name} is {getattr(report, name)!r}")
    return report


def generations(folder: Path) -> list[int]:
    """The generations of the journal files in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    found = (_FILE.match(entry.name) for entry in folder.iterdir())
    return sorted(int(match[1]) for match in found if match)


def unmoved(folder: Path, moved: Position) -> Iterator[tuple[Report, Position]]:
    """Each report in the journal past `moved`, oldest first, with the position just after
    it. A line cut short at a file's end (a write the crash interrupted, never answered) and a
    line that is not a report are skipped and logged."""
    for generation in generations(folder):
        if generation < moved.generation:
            continue
        start = moved.offset if generation == moved.generation else 0
        path = _path(folder, generation)
        with path.open("rb") as file:
            file.seek(start)
            offset = start
            for line in file:
                offset += len(line)
                if not line.endswith(b"\n"):
                    log.warning("%s: ignored an incomplete last line (%d bytes)", path, len(line))
                    break
                try:
                    report = decode(line)
                except ValueError as e:
                    log.warning("%s: skipped the line ending at byte %d: %s", path, offset, e)
                    continue
                yield report, Position(generation, offset)


def remove_before(folder: Path, generation: int) -> None:
    """Delete the journal files older than `generation` (all moved)."""
    for older in generations(folder):
        if older < generation:
            _path(folder, older).unlink(missing_ok=True)


class Journal:
    """The file reports are appended to (one generation at a time), and the older files not
    yet wholly moved. Used from the event loop's thread only."""

    def __init__(self, folder: Path, generation: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._retired: list[Position] = []  # older files: generation and final size
        self._open(generation)

    def _open(self, generation: int) -> None:
        path = _path(self.folder, generation)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.generation = generation
        self._offset = os.fstat(self._fd).st_size

    @property
    def end(self) -> Position:
        return Position(self.generation, self._offset)

    def append(self, report: Report) -> Position:
        """Write `report`; the position just after it. OSError (a full disk) leaves the file as
        it was."""
        line = encode(report)
        try:
            written = os.write(self._fd, line)
            if written != len(line):
                raise OSError(f"wrote {written} of {len(line)} bytes")
        except OSError:
            os.ftruncate(self._fd, self._offset)  # no half line for the next one to follow
            raise
        self._offset += written
        position = self.end
        if self._offset >= ROTATE_BYTES:
            self._retired.append(position)
            os.close(self._fd)
            self._open(self.generation + 1)
        return position

    def moved(self, through: Position) -> None:
        """Everything up to `through` is in the database: delete the files it covers."""
        kept = []
        for retired in self._retired:
            if retired <= through:
                _path(self.folder, retired.generation).unlink(missing_ok=True)
            else:
                kept.append(retired)
        self._retired = kept

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
