"""Configuration: TOML + environment, validated with messages that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings

GOOD_TOKEN = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOpp"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "dudao.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_defaults_need_no_file() -> None:
    settings = load_settings()
    assert settings.database.url.startswith("sqlite:///")
    assert settings.timezone == "Asia/Shanghai" and settings.cases.reference_prefix == "SJ"
    assert settings.time_rules.visit_reminder_days == [20, 27]


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    settings = load_settings(example)
    assert settings.telegram.mode == "polling"


def test_relative_sqlite_path_is_relative_to_the_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, '[database]\nurl = "sqlite:///db/x.db"\n'))
    assert settings.database.url == f"sqlite:///{tmp_path / 'db' / 'x.db'}"


def test_environment_overrides_file_secrets(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUDAO_TELEGRAM__TOKEN", GOOD_TOKEN)
    settings = load_settings(write(tmp_path, '[telegram]\nbase_url = "http://127.0.0.1:9/bot"\n'))
    assert settings.telegram.token == GOOD_TOKEN
    assert settings.telegram.base_url == "http://127.0.0.1:9/bot"


@pytest.mark.parametrize(("body", "mentions"), [
    ("[telegram\ntoken = 1", "not valid TOML"),
    ('[telegram]\ntoken = "hello"\n', "telegram.token"),
    ('[telegram]\nmode = "webhook"\nwebhook_url = "https://x.example/h"\n', "webhook_secret"),
    ('[telegram]\nmode = "carrier-pigeon"\n', "telegram.mode"),
    ('[database]\nurl = "mysql://x"\n', "database.url"),
    ('timezone = "Mars/Olympus"\n', "timezone"),
    ('[cases]\nreference_prefix = "sj-1"\n', "cases.reference_prefix"),
    ('[time_rules]\nvisit_reminder_days = [31]\n', "time_rules.visit_reminder_days"),
    ('[unknown]\nx = 1\n', "unknown"),
])
def test_bad_config_is_refused_with_the_key_named(tmp_path: Path, body: str,
                                                  mentions: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, body))
    assert mentions in str(err.value)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_bad_config_changes_nothing_on_disk(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite:///var/x.db"\n[telegram]\ntoken = "bad"\n')
    assert main(["migrate", "--config", str(path)]) == 2
    assert not (tmp_path / "var").exists()
    err = capsys.readouterr().err
    assert "配置有误" in err and "telegram.token" in err
