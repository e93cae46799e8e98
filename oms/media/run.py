"""Runs ffmpeg as an async subprocess under a wall-time and a memory limit.

stderr is read line by line (a hook sees every line, a bounded tail is kept for messages);
stdout, when asked for, is handed to a consumer chunk by chunk while ffmpeg runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from oms.media.failures import MediaFailure

__all__ = ["FFmpegRun", "RunLimits", "run_ffmpeg"]

_CHUNK = 64 * 1024
_MAX_LINE = 2000
_TAIL_LINES = 60


@dataclass(frozen=True)
class RunLimits:
    """Bounds for one ffmpeg process on untrusted input."""

    time_limit_s: float
    memory_limit_mb: int | None = 1024  # address space (RLIMIT_AS); None = unbounded


@dataclass(frozen=True)
class FFmpegRun:
    """How a finished ffmpeg process ended."""

    returncode: int
    stderr_tail: tuple[str, ...]  # the last lines of stderr (progress lines excluded)
    elapsed_s: float

    def errors(self) -> list[str]:
        """The tail's lines ffmpeg logged at level error or fatal (needs `-loglevel level+…`)."""
        return [line for line in self.stderr_tail if "[error]" in line or "[fatal]" in line]

    def reason(self) -> str:
        """One line on why it failed: the last error ffmpeg logged, else its exit status."""
        errors = self.errors()
        if errors:
            return errors[-1].split("] ")[-1].strip()
        if self.returncode < 0:
            return f"ffmpeg was killed by signal {-self.returncode}"
        return f"ffmpeg exited with status {self.returncode}"


def _linux_prctl() -> Callable[[int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[[int, int], int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Looked up once, in the parent: the child only calls it.
_PRCTL = _linux_prctl()
_PR_SET_PDEATHSIG = 1


def _limit_memory(memory_limit_mb: int | None) -> Callable[[], None]:
    parent = os.getpid()

    def preexec() -> None:
        # Runs in the child between fork and exec: only async-signal-safe work here.
        if _PRCTL is not None:
            # An ffmpeg that outlives a node killed with -9 would go on writing into a partial
            # ladder the restarted node is sweeping (and hold a core): it dies with its parent.
            _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
            if os.getppid() != parent:  # the parent died before the line above
                os._exit(1)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if memory_limit_mb is not None:
            size = memory_limit_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return preexec


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    # glibc reserves a 64 MB malloc arena per thread; ffmpeg runs a thread per encoder and
    # muxer, so without this the address space (what RLIMIT_AS bounds) is ~1.3 GB for a
    # 50 MB resident ladder. Two arenas keep the limit meaningful at no measurable cost.
    env["MALLOC_ARENA_MAX"] = "2"
    env["LC_ALL"] = "C"
    return env


async def _read_lines(stream: asyncio.StreamReader, on_line: Callable[[str], None]) -> None:
    pending = b""
    while chunk := await stream.read(_CHUNK):
        pending += chunk.replace(b"\r", b"\n")
        *lines, pending = pending.split(b"\n")
        for line in lines:
            on_line(line[:_MAX_LINE].decode("utf-8", "replace"))
        pending = pending[-_MAX_LINE:]
    if pending:
        on_line(pending.decode("utf-8", "replace"))


async def _read_chunks(stream: asyncio.StreamReader, on_chunk: Callable[[bytes], None]) -> None:
    while chunk := await stream.read(_CHUNK):
        on_chunk(chunk)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await process.wait()


async def run_ffmpeg(
    ffmpeg: Path,
    args: Sequence[str],
    *,
    limits: RunLimits,
    on_stderr_line: Callable[[str], None] | None = None,
    on_stdout: Callable[[bytes], None] | None = None,
) -> FFmpegRun:
    """Run `ffmpeg args…` to completion and say how it ended.

    A non-zero exit is returned, not raised: only the caller knows whether it means bad input.
    Raises MediaFailure when the time limit expires or ffmpeg cannot start; the process is
    killed and reaped on timeout and on cancellation, before the exception propagates.
    """
    tail: deque[str] = deque(maxlen=_TAIL_LINES)

    def take_line(line: str) -> None:
        if on_stderr_line is not None:
            on_stderr_line(line)
        if line.strip() and "=" not in line.split(" ", 1)[0]:  # skip `-progress` key=value
            tail.append(line)

    started = time.monotonic()
    try:
        process = await asyncio.create_subprocess_exec(
            str(ffmpeg),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if on_stdout else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=_environment(),
            preexec_fn=_limit_memory(limits.memory_limit_mb),
        )
    except OSError as exc:
        raise MediaFailure(f"cannot start ffmpeg at {ffmpeg}: {exc}") from exc

    assert process.stderr is not None
    readers = [_read_lines(process.stderr, take_line)]
    if on_stdout is not None:
        assert process.stdout is not None
        readers.append(_read_chunks(process.stdout, on_stdout))
    try:
        async with asyncio.timeout(limits.time_limit_s):
            await asyncio.gather(*readers)
            await process.wait()
    except TimeoutError:
        await _stop(process)
        raise MediaFailure(
            f"ffmpeg exceeded the {limits.time_limit_s:g} s time limit and was stopped"
        ) from None
    except BaseException:
        # Cancellation (or a consumer's exception): never leave ffmpeg running behind us.
        await _stop(process)
        raise
    assert process.returncode is not None
    return FFmpegRun(process.returncode, tuple(tail), time.monotonic() - started)
