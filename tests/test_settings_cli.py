"""Configuration validation and the `bosai check-config` command."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import main
from service.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bosai.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_validate():
    settings = load_settings()
    assert settings.service.port == 8080
    assert settings.store.url.endswith(".sqlite3")


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    load_settings(path)


def test_typo_is_an_error_naming_the_key(tmp_path):
    path = write(tmp_path, "[service]\nprot = 8080\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert err.value.errors[0][0] == "service.prot"
    assert str(path) in str(err.value)


def test_wrong_type_names_the_key_and_reason(tmp_path):
    path = write(tmp_path, '[service]\nport = "eighty"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    key, msg = err.value.errors[0]
    assert key == "service.port" and "integer" in msg


def test_syntax_error_names_line(tmp_path):
    path = write(tmp_path, "[service\nport = 1\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "line 1" in str(err.value)


def test_unknown_source_type_is_an_error(tmp_path):
    path = write(tmp_path, '[sources.x]\ntype = "carrier_pigeon"\nurl = "http://127.0.0.1/"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert err.value.errors[0][0].startswith("sources.x")


def test_store_url_from_environment(monkeypatch):
    monkeypatch.setenv("BOSAI_STORE_URL", "redis://127.0.0.1:6390/0")
    assert load_settings().store.url == "redis://127.0.0.1:6390/0"


def test_check_config_exit_codes(tmp_path, capsys):
    good = write(tmp_path, "[service]\nport = 9000\n")
    assert main(["check-config", str(good)]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[store]\nurl = 3\nbogus = true\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["check-config", str(bad)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"{bad}: store.url:" in err and f"{bad}: store.bogus:" in err


def test_check_config_console_script(tmp_path):
    bad = write(tmp_path, "[service]\nprot = 1\n")
    bosai = Path(sys.executable).with_name("bosai")
    cmd = [str(bosai)] if bosai.exists() else [sys.executable, "-m", "service.cli"]
    proc = subprocess.run([*cmd, "check-config", str(bad)], capture_output=True, text=True, env=os.environ | {"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert "service.prot" in proc.stderr


def test_unknown_store_scheme_is_an_error(tmp_path):
    path = write(tmp_path, '[store]\nurl = "postgres://db/bosai"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    key, msg = err.value.errors[0]
    assert key == "store.url" and "unknown scheme" in msg
