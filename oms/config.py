"""The settings registry: every setting declared once, and where each effective value came from.

Load order: defaults < config file (`etc/oms.toml`) < `OMS_<SECTION>_<NAME>` environment < CLI.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from oms.errors import ConfigError

__all__ = [
    "SETTINGS",
    "Setting",
    "Settings",
    "default_config_path",
    "load_settings",
    "relay_origin",
]

Value = str | int | float | bool | Path


@dataclass(frozen=True)
class Setting:
    """One setting: `key` is `section.name`; its environment name is derived from it."""

    key: str
    kind: type[Value]
    default: Value
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False

    @property
    def section(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def env(self) -> str:
        return "OMS_" + self.key.replace(".", "_").upper()

    def parse(self, raw: object, origin: str) -> Value:
        """Turn a raw value (TOML-typed or a string from env/CLI) into this setting's type."""
        value = _coerce(self, raw, origin)
        if self.choices and value not in self.choices:
            raise ConfigError(
                f"{origin}: {self.key} must be one of {', '.join(self.choices)}, not {raw!r}"
            )
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                raise ConfigError(f"{origin}: {self.key} must be at least {self.minimum:g}")
            if self.maximum is not None and value > self.maximum:
                raise ConfigError(f"{origin}: {self.key} must be at most {self.maximum:g}")
        return value


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(setting: Setting, raw: object, origin: str) -> Value:
    kind = setting.kind
    wrong = f"{origin}: {setting.key} must be {_kind_name(kind)}, not {raw!r}"
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise ConfigError(wrong)
    if kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                pass
        raise ConfigError(wrong)
    if kind is float:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, str):
            try:
                return float(raw.strip())
            except ValueError:
                pass
        raise ConfigError(wrong)
    if not isinstance(raw, str):
        raise ConfigError(wrong)
    return Path(raw).expanduser() if kind is Path else raw


def _kind_name(kind: type[Value]) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", Path: "a path"}.get(
        kind, "a string"
    )


def _check_public_url(value: Value) -> str | None:
    if value == "":
        return None
    parts = urlsplit(str(value))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL such as https://music.example.org"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must be the bare origin of the node, with no path, query or fragment"
    return None


def _check_optional_url(value: Value) -> str | None:
    if value == "":
        return None
    parts = urlsplit(str(value))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL"
    return None


_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")


def relay_origin(entry: str) -> str:
    """One `pds.relays` entry as the origin to call: `bsky.network` → `https://bsky.network`.

    A full URL may name its scheme; plain http only reaches a relay on this machine, since
    anything else would travel unencrypted. Raises ValueError saying what is wrong."""
    text = entry.strip()
    if not text:
        raise ValueError("an empty entry is not a relay")
    parts = urlsplit(text if "://" in text else f"https://{text}")
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{text!r} must be a host such as bsky.network or an http(s) URL")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{text!r} must be a bare host or origin, with no path or query")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port") from None
    host = (parts.hostname or "").lower()
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None and (len(host) > 253 or not _HOST_NAME.fullmatch(host)):
        raise ValueError(f"{text!r} does not name a valid host")
    if address is not None:
        loopback = address.is_loopback
    else:
        loopback = host == "localhost" or host.endswith(".localhost")
    if parts.scheme == "http" and not loopback:
        raise ValueError(f"{text!r} must use https (plain http is only for localhost)")
    shown = f"[{host}]" if isinstance(address, ipaddress.IPv6Address) else host
    default_port = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{shown}" + (f":{port}" if port not in (None, default_port) else "")


def _check_relays(value: Value) -> str | None:
    for entry in str(value).split(","):
        if entry.strip():
            try:
                relay_origin(entry)
            except ValueError as e:
                return f"has a bad entry: {e}"
    return None


SETTINGS: tuple[Setting, ...] = (
    Setting("server.host", str, "127.0.0.1", "Address to listen on (0.0.0.0 for all interfaces)."),
    Setting("server.port", int, 8000, "TCP port to listen on.", minimum=0, maximum=65535),
    Setting(
        "server.public_url",
        str,
        "",
        "The node's public origin, e.g. https://music.example.org. Its hostname names the "
        "node's identities (did:web). Empty: http://localhost:<port>.",
    ),
    Setting(
        "server.forwarded_allow_ips",
        str,
        "127.0.0.1",
        "Comma-separated proxy addresses trusted for X-Forwarded-For/-Proto ('*' for any).",
    ),
    Setting(
        "server.shutdown_timeout",
        float,
        30.0,
        "Seconds a stopping node waits for requests in flight and background work.",
        minimum=0,
    ),
    Setting("data.dir", Path, Path("data"), "The data directory: database, blobs, HLS, keys."),
    Setting(
        "data.min_free_mb",
        int,
        512,
        "Free disk space under the data directory below which /readyz and doctor report failure.",
        minimum=0,
    ),
    Setting("node.name", str, "Open Music Streaming", "The collective's name, shown to visitors."),
    Setting(
        "log.level",
        str,
        "info",
        "Least severe log level written.",
        choices=("debug", "info", "warning", "error"),
    ),
    Setting(
        "log.format",
        str,
        "plain",
        "Log line format on stdout: plain text or one JSON object per line.",
        choices=("plain", "json"),
    ),
    Setting(
        "metrics.token",
        str,
        "",
        "When set, /metrics requires 'Authorization: Bearer <token>'.",
        secret=True,
    ),
    Setting(
        "media.ffmpeg",
        str,
        "auto",
        "Path of the ffmpeg binary; 'auto' uses ffmpeg on PATH, else the one in imageio-ffmpeg.",
    ),
    Setting(
        "media.min_duration_s",
        int,
        1,
        "Shortest audio accepted for a track, in seconds.",
        minimum=1,
    ),
    Setting(
        "media.max_duration_min",
        int,
        180,
        "Longest audio accepted for a track, in minutes.",
        minimum=1,
        maximum=1440,
    ),
    Setting(
        "media.ffmpeg_memory_mb",
        int,
        1024,
        "Address space an ffmpeg process may use, in megabytes (the ladder needs ~400).",
        minimum=300,
    ),
    Setting(
        "media.loudness_target",
        float,
        -14.0,
        "Loudness (LUFS) players are told to normalise to; the audio itself is not changed.",
        minimum=-40.0,
        maximum=-5.0,
    ),
    Setting(
        "pds.open_signup",
        bool,
        False,
        "Anyone may create an account (com.atproto.server.createAccount); when false an "
        "invite code from an admin is needed.",
    ),
    Setting(
        "pds.blob_max_mb",
        int,
        500,
        "Largest blob (audio master, artwork) an account may upload, in megabytes.",
        minimum=1,
        maximum=16384,
    ),
    Setting(
        "pds.plc_directory",
        str,
        "",
        "URL of a PLC directory; when set, new accounts get did:plc identities registered "
        "there instead of did:web under this node's hostname.",
    ),
    Setting(
        "pds.relays",
        str,
        "",
        "Comma-separated relays asked to crawl this node (com.atproto.sync.requestCrawl) at "
        "start and when it gains accounts: hosts such as bsky.network (https), or URLs; "
        "http only for localhost.",
    ),
    Setting(
        "pds.firehose_replay_hours",
        int,
        72,
        "How far back a subscriber may replay the firehose with a cursor.",
        minimum=1,
    ),
    Setting(
        "web.session_days",
        int,
        30,
        "A browser stays signed in this many days after its last visit.",
        minimum=1,
        maximum=365,
    ),
    Setting(
        "security.admin_totp_required",
        bool,
        False,
        "Admins must set up two-factor sign-in (TOTP) before they can use the admin pages "
        "or XRPC admin methods.",
    ),
    Setting(
        "security.min_password_length",
        int,
        10,
        "Shortest password a new or changed password may be.",
        minimum=8,
        maximum=128,
    ),
    Setting(
        "security.reset_link_hours",
        int,
        24,
        "A password-reset link an admin issues stops working after this many hours.",
        minimum=1,
        maximum=168,
    ),
    Setting(
        "limits.sign_ups_per_hour",
        int,
        10,
        "Accounts one client address may create per hour (com.atproto.server.createAccount); "
        "0 turns the limit off.",
        minimum=0,
    ),
    Setting(
        "limits.uploads_per_hour",
        int,
        200,
        "Blobs one account, and one client address, may upload per hour; 0 turns the limit "
        "off. Storage and monthly quotas are set per role on the admin's Plans page.",
        minimum=0,
    ),
    Setting(
        "limits.listening_reports_per_minute",
        int,
        600,
        "Listening reports (fm.oms.analytics.reportListening) one client address may send per "
        "minute; 0 turns the limit off.",
        minimum=0,
    ),
    Setting(
        "analytics.raw_days",
        int,
        90,
        "Days the raw listening reports (who heard which seconds) are kept; the daily rollups "
        "and public counts stay after them.",
        minimum=2,
        maximum=3650,
    ),
    Setting(
        "analytics.rollup_minutes",
        int,
        5,
        "Minutes between rollups of new listening into plays, listeners, retention and the "
        "public counts.",
        minimum=1,
        maximum=1440,
    ),
    Setting(
        "analytics.daily_cap",
        int,
        10,
        "Plays of one track by one listener in a day that count; later ones are flagged.",
        minimum=1,
    ),
    Setting(
        "analytics.burst_sessions",
        int,
        100,
        "Listening sessions one address may begin within ten minutes before the rest are flagged.",
        minimum=2,
    ),
    Setting(
        "jobs.concurrency",
        int,
        0,
        "Background jobs run at once; 0 means one per CPU core.",
        minimum=0,
        maximum=64,
    ),
)

_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
_BY_ENV: dict[str, Setting] = {s.env: s for s in SETTINGS}
_SECTIONS = {s.section for s in SETTINGS}
_VALIDATORS: dict[str, Callable[[Value], str | None]] = {
    "server.public_url": _check_public_url,
    "pds.plc_directory": _check_optional_url,
    "pds.relays": _check_relays,
}


@dataclass(frozen=True)
class Settings:
    """Effective settings, with the origin of each value (for `oms config`)."""

    values: Mapping[str, Value]
    origins: Mapping[str, str]
    config_file: Path | None

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def data_dir(self) -> Path:
        return Path(str(self.values["data.dir"])).resolve()

    @property
    def public_url(self) -> str:
        url = str(self.values["server.public_url"])
        return url.rstrip("/") if url else f"http://localhost:{self.values['server.port']}"

    @property
    def hostname(self) -> str:
        """Host (with a non-default port) that names the node: `localhost:8000`, `music.org`."""
        return urlsplit(self.public_url).netloc.lower()

    def with_fallbacks(self, fallbacks: Mapping[str, object], origin: str) -> Settings:
        """These values where only the default (or this same layer, `origin`) set the setting:
        the first-run setup's choices, under the operator's file, environment and flags."""
        unset = {k: v for k, v in fallbacks.items() if self.origins.get(k) in ("default", origin)}
        return self.with_overrides(unset, origin) if unset else self

    def with_overrides(self, overrides: Mapping[str, object], origin: str) -> Settings:
        values = dict(self.values)
        origins = dict(self.origins)
        for key, raw in overrides.items():
            setting = _lookup(key, origin)
            values[key] = _validated(setting, setting.parse(raw, origin), origin)
            origins[key] = origin
        return Settings(values, origins, self.config_file)


def default_config_path() -> Path:
    return Path("etc/oms.toml")


def _lookup(key: str, origin: str) -> Setting:
    setting = _BY_KEY.get(key)
    if setting is None:
        raise ConfigError(f"{origin}: unknown setting {key!r}{_suggest(key, _BY_KEY)}")
    return setting


def _suggest(name: str, known: Mapping[str, Setting]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _validated(setting: Setting, value: Value, origin: str) -> Value:
    check = _VALIDATORS.get(setting.key)
    problem = check(value) if check else None
    if problem:
        raise ConfigError(f"{origin}: {setting.key} {problem}, not {value!r}")
    return value


def _read_file(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as f:
            document = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file: {e.strerror}") from e
    flat: dict[str, object] = {}
    for section, table in document.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section!r} must be a [section] table")
        for name, raw in table.items():
            flat[f"{section}.{name}"] = raw
    return flat


def load_settings(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Resolve every setting. An explicit `config_file` must exist; the default one may not."""
    environ = os.environ if environ is None else environ
    values: dict[str, Value] = {s.key: s.default for s in SETTINGS}
    origins = {s.key: "default" for s in SETTINGS}

    explicit = config_file if config_file is not None else environ.get("OMS_CONFIG") or None
    path = Path(explicit) if explicit else default_config_path()
    if explicit or path.exists():
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        for key, raw in _read_file(path).items():
            declared = _lookup(key, str(path))
            values[key] = _validated(declared, declared.parse(raw, str(path)), str(path))
            origins[key] = str(path)
        loaded: Path | None = path
    else:
        loaded = None

    for name, raw in environ.items():
        if not name.startswith("OMS_") or name == "OMS_CONFIG":
            continue
        from_env = _BY_ENV.get(name)
        if from_env is None:
            # Other OMS_* variables (e.g. the test suite's) are not settings; a misspelt
            # setting of a known section is an error rather than silently ignored.
            section = name[4:].split("_", 1)[0].lower()
            if section in _SECTIONS:
                raise ConfigError(f"environment: unknown setting {name}{_suggest(name, _BY_ENV)}")
            continue
        origin = f"environment {name}"
        values[from_env.key] = _validated(from_env, from_env.parse(raw, origin), origin)
        origins[from_env.key] = origin

    settings = Settings(values, origins, loaded)
    if overrides:
        settings = settings.with_overrides(overrides, "command line")
    return settings
