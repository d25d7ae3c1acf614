"""Server settings: defaults < YAML < TUNELAB_* environment < flags, typed by field hints, all problems at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunelab.errors import ConfigError
from tunelab.serving.settings import ServeSettings, load_settings


def test_layers_override_in_order(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("port: 9000\nhost: 127.0.0.2\nmax_models: 2\nlog_level: debug\n", encoding="utf-8")
    settings = load_settings(path, env={"TUNELAB_PORT": "9001", "TUNELAB_MAX_MODELS": "3"}, port=9002,
                             host=None, db="sqlite:///x.db")
    assert (settings.port, settings.max_models, settings.host, settings.log_level) == (9002, 3, "127.0.0.2", "debug")
    assert settings.db == "sqlite:///x.db"
    assert load_settings(env={}, db="sqlite:///x.db") == ServeSettings(db="sqlite:///x.db")


@pytest.mark.parametrize(("variable", "text", "name", "value"), [
    ("TUNELAB_AUTH", "off", "auth", False),
    ("TUNELAB_METRICS_PUBLIC", "Yes", "metrics_public", True),
    ("TUNELAB_LOG_TEXT", "0", "log_text", False),
    ("TUNELAB_PORT", " 8123 ", "port", 8123),
    ("TUNELAB_MAX_WAIT_MS", "0.5", "max_wait_ms", 0.5),
    ("TUNELAB_RETENTION_DAYS", "7", "retention_days", 7.0),
    ("TUNELAB_CORS_ORIGINS", "http://a.example, http://b.example,", "cors_origins",
     ("http://a.example", "http://b.example")),
    ("TUNELAB_CORS_ORIGINS", "", "cors_origins", ()),
    ("TUNELAB_RUNS_ROOT", "/srv/runs", "runs_root", "/srv/runs"),
])
def test_environment_values_are_read_as_the_field_type(variable: str, text: str, name: str, value: object) -> None:
    settings = load_settings(env={variable: text}, db="sqlite:///x.db")
    assert getattr(settings, name) == value and type(getattr(settings, name)) is type(value)


def test_every_problem_of_every_layer_at_once(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("prot: 80\nmax_models: many\ncors_origins: [a, 3]\n", encoding="utf-8")
    env = {"TUNELAB_AUTH": "maybe", "TUNELAB_PORT": "80.5", "TUNELAB_MAX_WAIT_MS": "soon"}
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env=env, retention_dayz=3, threads="x")
    found = {p.path: p.message for p in caught.value.problems}
    assert found == {
        "prot": "unknown key (did you mean 'port'?)",
        "max_models": "expected int, got 'many'",
        "cors_origins[1]": "expected str, got 3",
        "TUNELAB_AUTH": "expected bool, got 'maybe'",
        "TUNELAB_PORT": "expected int, got '80.5'",
        "TUNELAB_MAX_WAIT_MS": "expected float, got 'soon'",
        "retention_dayz": "unknown key (did you mean 'retention_days'?)",
        "threads": "expected int, got 'x'",
    }
    assert str(caught.value).startswith(f"{path}: 8 problems in the settings:")


def test_values_that_types_allow_are_still_checked_all_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"TUNELAB_MAX_MODELS": "0"}, host="0.0.0.0", auth=False, precision="fp16", db="x.db")
    assert [p.path for p in caught.value.problems] == ["auth", "precision", "max_models"]
    assert "only allowed on a loopback address, not '0.0.0.0'" in str(caught.value)


def test_a_settings_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("- port\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="serve.yaml: the top level must be a mapping"):
        load_settings(path, env={})
