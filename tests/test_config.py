from __future__ import annotations

from pathlib import Path

import pytest

from oms.config import SETTINGS, load_settings
from oms.errors import ConfigError


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "oms.toml"
    path.write_text(text)
    return path


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    settings = load_settings(config_file=_file(tmp_path, ""), environ={})
    assert settings["server.port"] == 8000
    assert settings.public_url == "http://localhost:8000"
    assert settings.hostname == "localhost:8000"
    assert all(origin == "default" for origin in settings.origins.values())


def test_precedence_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = _file(tmp_path, '[server]\nport = 9000\nhost = "0.0.0.0"\n[log]\nformat = "json"\n')
    settings = load_settings(
        config_file=config,
        environ={"OMS_SERVER_PORT": "9100", "OMS_LOG_FORMAT": "plain"},
        overrides={"server.port": "9200"},
    )
    assert settings["server.port"] == 9200
    assert settings.origins["server.port"] == "command line"
    assert settings["log.format"] == "plain"
    assert settings.origins["log.format"] == "environment OMS_LOG_FORMAT"
    assert settings["server.host"] == "0.0.0.0"
    assert settings.origins["server.host"] == str(config)
    assert settings.origins["node.name"] == "default"


def test_types_are_parsed_from_strings(tmp_path: Path) -> None:
    settings = load_settings(
        config_file=_file(tmp_path, ""),
        environ={"OMS_SERVER_SHUTDOWN_TIMEOUT": "2.5", "OMS_DATA_DIR": "~/music"},
    )
    assert settings["server.shutdown_timeout"] == 2.5
    assert settings.data_dir == (Path.home() / "music").resolve()


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OMS_SERVER_PORT": "abc"}, "server.port must be a whole number"),
        ({"OMS_SERVER_PORT": "70000"}, "server.port must be at most 65535"),
        ({"OMS_LOG_FORMAT": "xml"}, "log.format must be one of plain, json"),
        ({"OMS_SERVER_PORTT": "1"}, "did you mean OMS_SERVER_PORT"),
        ({"OMS_SERVER_PUBLIC_URL": "music.example.org"}, "server.public_url must be an http"),
        ({"OMS_SERVER_PUBLIC_URL": "https://x.org/path"}, "server.public_url must be the bare"),
    ],
)
def test_invalid_environment_names_the_setting(
    tmp_path: Path, environ: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")):
        load_settings(config_file=_file(tmp_path, ""), environ=environ)


def test_unrelated_oms_variables_are_not_settings(tmp_path: Path) -> None:
    settings = load_settings(
        config_file=_file(tmp_path, ""), environ={"OMS_CONFORMANCE_DIR": "/somewhere"}
    )
    assert settings["server.port"] == 8000


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[server]\nprot = 1\n", "unknown setting 'server.prot' (did you mean server.port?)"),
        ("[server]\nport = true\n", "server.port must be a whole number"),
        ("port = 1\n", "'port' must be a [section] table"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_invalid_config_file_names_the_problem(tmp_path: Path, text: str, named: str) -> None:
    config = _file(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_settings(config_file=config, environ={})
    assert named in error.value.message
    assert str(config) in error.value.message


def test_an_explicit_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(environ={"OMS_CONFIG": str(tmp_path / "missing.toml")})


def test_the_shipped_example_config_loads_and_changes_nothing() -> None:
    shipped = Path(__file__).resolve().parent.parent / "etc" / "oms.toml"
    settings = load_settings(config_file=shipped, environ={})
    assert all(settings[s.key] == s.default for s in SETTINGS)


def test_public_url_names_the_node(tmp_path: Path) -> None:
    settings = load_settings(
        config_file=_file(tmp_path, ""),
        environ={"OMS_SERVER_PUBLIC_URL": "https://Music.Example.org/"},
    )
    assert settings.public_url == "https://Music.Example.org"
    assert settings.hostname == "music.example.org"
