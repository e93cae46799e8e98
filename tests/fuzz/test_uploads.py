"""Upload metadata: what `describeUpload` (and `oms import`) reads from an uploaded file, on
corrupted audio made with the real ffmpeg and tagged with mutagen. The tags never raise; the
audio is described or refused as InvalidMedia (400); nothing answers 500.

ffmpeg runs twice per described file: these targets get a small budget."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from oms.media.tags import AudioTags, read_tags, safe_title_from_filename, split_artists
from tests.conftest import upload_blob
from tests.fuzz.conftest import Node, assert_xrpc_answer
from tests.fuzz.known import reported_crashes
from tests.fuzz.profile import fuzz_settings
from tests.fuzz.strategies import mutated, nasty_text
from tests.media.conftest import _tag_flac, _tag_mp3, generate, png_bytes

_HEAD = 8192  # mutations land here most of the time: container headers and tags
_COUNTER = itertools.count()


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, node: Node) -> dict[str, bytes]:
    """Short tagged files of each tag format: FLAC (Vorbis comments, picture), MP3 (ID3v2.4
    with APIC, SYLT, USLT), M4A (MP4 atoms) and Ogg Vorbis."""
    root = tmp_path_factory.mktemp("sources")
    ffmpeg = node.context.ffmpeg.path
    cover = png_bytes(32, 32)
    flac = generate(ffmpeg, root / "a.flac", 1.5, "-c:a", "flac", "-sample_fmt", "s16")
    _tag_flac(flac, cover)
    mp3 = generate(ffmpeg, root / "a.mp3", 1.5, "-c:a", "libmp3lame", "-b:a", "64k")
    _tag_mp3(mp3, cover)
    m4a = generate(
        ffmpeg, root / "a.m4a", 1.5, "-c:a", "aac", "-b:a", "64k", "-metadata", "title=Song",
        "-metadata", "artist=A; B", "-metadata", "track=3/9",
    )  # fmt: skip
    return {p.suffix: p.read_bytes() for p in (flac, mp3, m4a)}


def _files(sources: dict[str, bytes]) -> st.SearchStrategy[tuple[str, bytes]]:
    return st.sampled_from(sorted(sources)).flatmap(
        lambda suffix: st.tuples(
            st.just(suffix),
            st.one_of(mutated(sources[suffix], _HEAD), mutated(sources[suffix])),
        )
    )


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corrupted")


@fuzz_settings(150)
@given(data=st.data())
def test_tags_of_corrupted_files(
    sources: dict[str, bytes], scratch: Path, data: st.DataObject
) -> None:
    """`read_tags` promises never to raise: what it cannot read goes to `problems`."""
    suffix, content = data.draw(_files(sources), "file")
    path = scratch / f"{next(_COUNTER)}{suffix}"
    path.write_bytes(content)
    tags = read_tags(path)
    assert isinstance(tags, AudioTags)
    assert all(isinstance(p, str) for p in tags.problems)


@fuzz_settings(100)
@given(st.lists(nasty_text(), max_size=4), nasty_text(300))
@example(["AC/DC feat. \x00 ; ;"], "../../etc/passwd")
@example([], "\u202e.flac")
def test_tag_text(artists: list[str], filename: str) -> None:
    assert all(name.strip() for name in split_artists(artists))
    title = safe_title_from_filename(filename)
    assert title
    assert "/" not in title
    assert "\\" not in title


@fuzz_settings(30, deadline=None)
@given(data=st.data())
def test_describe_corrupted_uploads(
    node: Node, sources: dict[str, bytes], data: st.DataObject
) -> None:
    """Upload a corrupted file, then ask what it is: described, or an XRPC error."""
    suffix, content = data.draw(_files(sources), "file")
    mime = {".flac": "audio/flac", ".mp3": "audio/mpeg", ".m4a": "audio/mp4"}[suffix]
    if not content:
        return
    with reported_crashes():
        uploaded = node.client.post(
            "/xrpc/com.atproto.repo.uploadBlob",
            content=content,
            headers={**node.bearer, "Content-Type": mime},
        )
        assert_xrpc_answer(uploaded)  # refused when the bytes no longer look like `mime`
        if uploaded.status_code != 200:
            return
        answer = node.client.get(
            "/xrpc/fm.oms.media.describeUpload",
            params={"cid": uploaded.json()["blob"]["ref"]["$link"], "filename": f"x{suffix}"},
            headers=node.bearer,
        )
        assert_xrpc_answer(answer)
        if answer.status_code >= 400:
            assert answer.json()["error"] == "InvalidMedia", answer.text
        event(f"describeUpload {answer.status_code}")


def test_uncorrupted_sources_are_described(node: Node, sources: dict[str, bytes]) -> None:
    for suffix, content in sources.items():
        mime = {".flac": "audio/flac", ".mp3": "audio/mpeg", ".m4a": "audio/mp4"}[suffix]
        blob = upload_blob(node.client, node.bearer, content, mime)
        answer = node.client.get(
            "/xrpc/fm.oms.media.describeUpload",
            params={"cid": blob["ref"]["$link"]},
            headers=node.bearer,
        )
        assert answer.status_code == 200, (suffix, answer.text)
