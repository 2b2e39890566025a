"""Configuration: TOML + environment, validated with messages that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, Settings, load_settings

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
    ("[telegram\ntoken = 1", "不是有效的 TOML 写法：第 1 行"),
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
    with pytest.raises(ConfigError, match="找不到配置文件"):
        load_settings(tmp_path / "nope.toml")


def test_bad_config_changes_nothing_on_disk(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite:///var/x.db"\n[telegram]\ntoken = "bad"\n')
    assert main(["migrate", "--config", str(path)]) == 2
    assert not (tmp_path / "var").exists()
    err = capsys.readouterr().err
    assert "配置有误" in err and "telegram.token" in err


@pytest.mark.parametrize(("body", "line"), [
    ("[cases]\nmax_evidence_files = -1\n", "cases.max_evidence_files：不能小于 0，当前为 -1"),
    ("[cases]\nmax_text_chars = 9000\n", "cases.max_text_chars：不能大于 4000"),
    ("[telegram]\ntokn = 1\n", "telegram.tokn：没有这个配置项，请检查拼写；这里可用的有：token、"),
    ("[unknown]\nx = 1\n", "unknown：没有这个配置项或配置段"),
    ('[telegram]\nlisten_port = "port"\n', "telegram.listen_port：应为整数"),
    ('[scheduler]\ninterval_seconds = "often"\n', "scheduler.interval_seconds：应为数字"),
    ('[telegram]\nmode = "carrier-pigeon"\n', "telegram.mode：只能是 'polling'、'webhook' 之一"),
    ('[cases]\nreference_prefix = "sj-1"\n', "cases.reference_prefix：应为 1 至 8 个大写英文字母"),
    ('[time_rules]\nquiet_start = "25:00"\n', "time_rules.quiet_start：应为时刻"),
    ('[telegram]\ntoken = "hello"\n', "telegram.token：令牌格式不对"),
    ('[database]\nurl = "mysql://u:pw@h/db"\n', "database.url：数据库地址必须以 sqlite:// 或"),
    ('timezone = "Mars/Olympus"\n', "timezone：未知的时区"),
    ("[time_rules]\nvisit_reminder_days = [31]\n", "time_rules.visit_reminder_days：应为每月的"),
    ("directory = 3\n", "directory：应为一个配置段 [directory]"),
])
def test_config_errors_are_explained_in_chinese_by_key(tmp_path: Path, body: str,
                                                      line: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, body))
    text = str(err.value)
    assert line in text
    assert "Input should" not in text and "Extra inputs" not in text
    assert "Value error" not in text and "pw" not in text


def test_a_bad_environment_value_names_the_variable(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUDAO_DATABASE__URL", "mysql://x")
    monkeypatch.setenv("DUDAO_TELEGRAM__LISTEN_PORT", "0")
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, '[database]\nurl = "sqlite:///x.db"\n'))
    text = str(err.value)
    assert "database.url（来自环境变量 DUDAO_DATABASE__URL）：数据库地址必须以" in text
    assert "telegram.listen_port（来自环境变量 DUDAO_TELEGRAM__LISTEN_PORT）：不能小于 1" in text


def test_secrets_are_never_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, '[telegram]\ntoken = "1:short-secret-value"\n'))
    assert "short-secret-value" not in str(err.value)


def test_a_value_inside_an_environment_list_names_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUDAO_TIME_RULES__VISIT_REMINDER_DAYS", '["x"]')
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert ("time_rules.visit_reminder_days[0]"
            "（来自环境变量 DUDAO_TIME_RULES__VISIT_REMINDER_DAYS）：应为整数") in str(err.value)


def test_the_web_server_has_its_own_section_and_old_webhook_keys_still_apply() -> None:
    settings = Settings()
    assert (settings.web.listen_host, settings.web.listen_port) == ("127.0.0.1", 8080)
    assert settings.web.base_url() == "http://127.0.0.1:8080"
    assert settings.web.base_url(51234) == "http://127.0.0.1:51234"
    old = Settings(telegram={"listen_host": "0.0.0.0", "listen_port": 8443})
    assert (old.web.listen_host, old.web.listen_port) == ("0.0.0.0", 8443)
    both = Settings(telegram={"listen_port": 8443}, web={"listen_port": 9000})
    assert both.web.listen_port == 9000
    public = Settings(web={"public_url": "https://dudao.example.gov.cn/"})
    assert public.web.base_url(1234) == "https://dudao.example.gov.cn"


def test_a_public_url_that_is_not_a_web_address_is_refused_in_chinese(tmp_path: Path) -> None:
    path = tmp_path / "dudao.toml"
    path.write_text('[web]\npublic_url = "dudao.example.gov.cn"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "web.public_url" in str(caught.value) and "http://" in str(caught.value)


@pytest.mark.parametrize("name,value", [("DUDAO_DIRECTORY__IMPORT_ON_START", "data/directory"),
                                        ("DUDAO_TIME_RULES__VISIT_REMINDER_DAYS", "20,27")])
def test_a_list_in_the_environment_that_is_not_json_is_one_chinese_message(
        name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert name in str(caught.value) and "JSON" in str(caught.value)
    monkeypatch.setenv(name, '["data/directory"]' if "DIRECTORY" in name else "[20, 27]")
    load_settings()


def test_relative_paths_in_a_config_file_are_relative_to_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "dudao.toml"
    path.write_text('[classifier]\nmodel_path = "models"\n[evidence]\ndir = "files"\n'
                    '[documents]\ntemplates_dir = "tpl"\n', encoding="utf-8")
    settings = load_settings(path)
    assert settings.classifier.model_path == str(folder.resolve() / "models")
    assert settings.evidence.dir == str(folder.resolve() / "files")
    assert settings.documents.templates_dir == str(folder.resolve() / "tpl")
    assert load_settings(folder / "dudao.toml").calendar.dir.startswith(str(folder.resolve()))
    bare = tmp_path / "bare.toml"
    bare.write_text("", encoding="utf-8")
    assert load_settings(bare).classifier.model_path == ""  # empty keeps its meaning
