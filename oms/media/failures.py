"""The media room's errors: bad input a person must fix, and failures worth retrying."""

from __future__ import annotations

from oms.errors import OmsError

__all__ = ["InvalidMedia", "MediaError", "MediaFailure"]


class MediaError(OmsError):
    """Something went wrong with a piece of media; the message says what, specifically."""


class InvalidMedia(MediaError):
    """The input is not usable audio or art (empty, not audio, truncated, too long...).

    Retrying the same bytes gives the same answer, so a job should fail at once.
    """

    name = "InvalidMedia"
    status = 400


class MediaFailure(MediaError):
    """The work failed for reasons outside the input: time or memory limit, disk, a crash."""

    name = "MediaFailure"
    status = 500
