"""How the HTML surface renders: the templates, the values every page has (the node's name,
who is signed in), and the one translator of room errors into an HTML page."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from oms import __version__
from oms.context import AppContext
from oms.errors import OmsError, RateLimitExceeded
from oms.resources import templates_dir
from oms.web.session import signed_in

__all__ = ["page", "problem_text", "render_error", "templates", "with_retry_after"]

templates = Jinja2Templates(directory=templates_dir())
templates.env.globals["oms_version"] = __version__


def _isotime(ms: int) -> str:
    """Milliseconds since the epoch as an RFC 3339 UTC time, to the minute."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _mmss(ms: object) -> str:
    """A length in milliseconds as a player shows it: `3:07`, `1:02:05` (nothing when the
    length is unknown)."""
    if not isinstance(ms, int | float):
        return ""
    minutes, seconds = divmod(round(ms / 1000), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


templates.env.filters["isotime"] = _isotime
templates.env.filters["mmss"] = _mmss


def _render(request: Request, name: str, status: int, values: dict[str, object]) -> Response:
    context: AppContext = request.state.context
    values.setdefault("node_name", context.settings["node.name"])
    values.setdefault("viewer", None)
    return templates.TemplateResponse(request, name, values, status_code=status)


async def page(request: Request, name: str, status: int = 200, **values: object) -> Response:
    """A page, with the signed-in person (`viewer`) known to its header."""
    if "viewer" not in values:
        values["viewer"] = await signed_in(request)
    return _render(request, name, status, values)


def render_error(request: Request, error: OmsError) -> Response:
    """The one translator of room errors into an HTML page. It does not look up the session
    (the database may be what failed); a page that already knew it keeps it."""
    return with_retry_after(_render(request, "error.html", error.status, {"error": error}), error)


def problem_text(error: OmsError) -> str:
    """A room's message (`"password must be …"`) as the sentence a form shows."""
    return f"{error.message[:1].upper()}{error.message[1:]}."


def with_retry_after(response: Response, error: OmsError) -> Response:
    """`response` (a form shown again with its problem), telling when to retry if `error` was
    a rate limit."""
    if isinstance(error, RateLimitExceeded):
        response.headers["Retry-After"] = str(error.retry_after)
    return response
