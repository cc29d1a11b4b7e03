"""Settings are data: each one documented, each one readable from env and file, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.errors import ConfigError
from accord.settings import SETTINGS, load_settings

OPERATIONS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_documented(setting: object) -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    assert f"`{setting.env}`" in text, f"{setting.env} is not in docs/operations.md"  # type: ignore[attr-defined]


def test_precedence_flag_env_file_default(tmp_path: Path) -> None:
    cfg = tmp_path / "accord.toml"
    cfg.write_text('max_nesting_depth = 50\nmax_object_bytes = 1000\n', encoding="utf-8")
    s = load_settings(env={"ACCORD_MAX_OBJECT_BYTES": "2000", "ACCORD_DATA_DIR": str(tmp_path)},
                      config_file=str(cfg))
    assert s.max_nesting_depth == 50  # file
    assert s.max_object_bytes == 2000  # env beats file
    assert s.database_url == f"sqlite:///{tmp_path / 'accord.db'}"  # default derived from data_dir
    s = load_settings({"database_url": "sqlite:///x.db"}, env={"ACCORD_DATABASE_URL": "sqlite:///y.db"})
    assert s.database_url == "sqlite:///x.db"  # flag beats env


def test_bad_values_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_nesting_depth"):
        load_settings(env={"ACCORD_MAX_NESTING_DEPTH": "-3"})
    cfg = tmp_path / "bad.toml"
    cfg.write_text("no_such_setting = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no_such_setting"):
        load_settings(env={}, config_file=str(cfg))
