"""The one settings model: bad values and unknown names are refused with one line naming them."""

from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings, settings_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_docs_settings_is_generated_from_the_model():
    assert (ROOT / "docs/settings.md").read_text() == settings_markdown(), (
        "docs/settings.md is stale: run `stepvox settings --markdown > docs/settings.md`"
    )


@pytest.mark.parametrize(
    "name,value,needle",
    [
        ("STEPVOX_MAX_INPUT_SECONDS", "nan", "finite"),
        ("STEPVOX_MAX_INPUT_SECONDS", "-1", "greater than 0"),
        ("STEPVOX_MAX_INPUT_SECONDS", "inf", "finite"),
        ("STEPVOX_TEMPERATURE", "abc", "valid number"),
        ("STEPVOX_DEVICE", "bogus", "cuda:N"),
        ("STEPVOX_DTYPE", "int3", "auto"),
        ("STEPVOX_HOME", "", "empty"),
        ("STEPVOX_POLICY", " ", "empty"),
        ("STEPVOX_TOOL_TIMEOUT_S", "0", "greater than 0"),
        ("STEPVOX_RETENTION_DAYS", "-3", "greater than 0"),
        ("STEPVOX_ALLOWED_HOSTS", "evil.example/<script>", "host name"),
        ("STEPVOX_TOKEN", "short", "at least 8"),
        ("STEPVOX_MAXINPUTSECONDS", "5", "unknown setting"),
    ],
)
def test_bad_environment_value_names_the_setting(monkeypatch, name, value, needle):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as e:
        load_settings()
    msg = str(e.value)
    assert name in msg and needle in msg and "\n" not in msg


@pytest.mark.parametrize(
    "toml,needle",
    [
        ('bogus = 1\n', "bogus in"),
        ('max_input_seconds = "x"\n', "max_input_seconds in"),
        ('max_input_seconds = = 3\n', "not valid TOML"),
    ],
)
def test_bad_config_file_names_the_key(monkeypatch, tmp_path, toml, needle):
    f = tmp_path / "stepvox.toml"
    f.write_text(toml)
    monkeypatch.setenv("STEPVOX_CONFIG", str(f))
    with pytest.raises(SettingsError, match=needle):
        load_settings()


def test_missing_config_file(monkeypatch, tmp_path):
    monkeypatch.setenv("STEPVOX_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match="no such file"):
        load_settings()


def test_good_values_and_hosts_list(monkeypatch, tmp_path):
    monkeypatch.setenv("STEPVOX_HOME", str(tmp_path))
    monkeypatch.setenv("STEPVOX_ALLOWED_HOSTS", "Voice.Example.org, 192.168.1.20")
    monkeypatch.setenv("STEPVOX_DEVICE", "cuda:1")
    s = load_settings()
    assert s.allowed_hosts == ["voice.example.org", "192.168.1.20"] and s.device == "cuda:1"
