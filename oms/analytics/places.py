"""Where listening happens, told without an address: the country a player's IANA time zone
implies (from the system's tz database, `zone.tab`) or else the region of its language tag,
and the bare domain of a referring site."""

from __future__ import annotations

import functools
import re
import zoneinfo
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["country_of", "referrer_domain"]

_REGION = re.compile(r"^[a-z]{2,3}(?:[-_][a-z]{4})?[-_]([a-z]{2})(?:[-_]|$)", re.IGNORECASE)
_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9-]{1,63})+$")


@functools.cache
def _zone_countries() -> dict[str, str]:
    """Time zone → ISO 3166 code, from the first `zone.tab` on the tz search path (empty when
    the system has none: then only the language tag tells a country)."""
    for folder in zoneinfo.TZPATH:
        table = Path(folder) / "zone.tab"
        try:
            lines = table.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        found = {}
        for line in lines:
            if line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) >= 3 and len(fields[0]) == 2:
                found[fields[2]] = fields[0].upper()
        return found
    return {}


def country_of(time_zone: str | None, locale: str | None) -> str:
    """The country the player's time zone implies, else its language's region, else ''."""
    if time_zone:
        country = _zone_countries().get(time_zone.strip())
        if country:
            return country
    if locale:
        match = _REGION.match(locale.strip())
        if match:
            return match[1].upper()
    return ""


def referrer_domain(referrer: str | None, own_host: str) -> str:
    """The host of a referring URL (or a bare domain), lower case, without `www.`; '' for
    none, for the node itself, or for anything that is not a host name."""
    if not referrer:
        return ""
    text = referrer.strip()
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    host = host.lower().removeprefix("www.")
    if not host or not _DOMAIN.match(host) or host == own_host.lower().removeprefix("www."):
        return ""
    return host
