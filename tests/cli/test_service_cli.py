"""The service CLI on a temporary SQLite registry: `models ...`, `keys ...`, `ab report`, and `serve`'s refusals.

Commands run in-process through `tunelab.cli.main.main` (the real entry point: it maps TunelabError to a
message and an exit code) with `sys.argv` patched; one test runs the installed entry point as a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import CliResult, invoke_cli, isolated_cli_env

import tunelab

TOKEN = re.compile(r"^tl_[0-9a-f]+_[A-Za-z0-9_-]+$")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`cli(*args)` -> CliResult; `--db` pointing at a fresh SQLite registry is added to every command but `serve`."""
    db = isolated_cli_env(tmp_path, monkeypatch)

    def run(*args: str, db_option: bool = True) -> CliResult:
        return invoke_cli([*args, *(["--db", db] if db_option else [])], monkeypatch, capsys)

    run.db = db  # type: ignore[attr-defined]
    return run


@pytest.fixture
def registered(cli, served_runs: dict[str, Path]):
    """intents v1 (production) and v2."""
    first = cli("models", "register", str(served_runs["intents_a"]), "--name", "intents", "--alias", "production")
    assert first.code == 0, first.err
    second = cli("models", "register", str(served_runs["intents_b"]), "--name", "intents")
    assert second.code == 0, second.err
    return cli


def test_register_prints_the_version(cli, served_runs: dict[str, Path]) -> None:
    r = cli("models", "register", str(served_runs["intents_a"]), "--name", "intents", "--alias", "production")
    assert r.code == 0, r.err
    assert r.out.startswith("registered intents version 1 (production) <- ")
    assert str(served_runs["intents_a"].resolve()) in r.out
    r = cli("models", "register", str(served_runs["intents_b"]), "--name", "intents", "--json")
    assert r.code == 0, r.err
    info = json.loads(r.out)
    assert (info["model"], info["version"], info["task"], info["aliases"]) == ("intents", 2, "classification", [])


def test_models_list_as_text_and_json(registered, served_runs: dict[str, Path]) -> None:
    cli = registered
    r = cli("models", "list")
    assert r.code == 0, r.err
    assert "intents: 2 version(s); aliases production->1; split -" in r.out
    assert re.search(r"^\s+v1\s+classification\s", r.out, re.M) and re.search(r"^\s+v2\s+classification\s", r.out, re.M)
    r = cli("models", "list", "--json")
    assert r.code == 0, r.err
    models = json.loads(r.out)
    assert [m["name"] for m in models] == ["intents"]
    assert [v["version"] for v in models[0]["versions"]] == [1, 2]
    assert models[0]["aliases"] == {"production": 1}


def test_models_list_on_an_empty_registry_says_how_to_add_one(cli) -> None:
    r = cli("models", "list")
    assert r.code == 0 and "no models registered" in r.out and "tunelab models register" in r.out
    r = cli("models", "list", "--json")
    assert r.code == 0 and json.loads(r.out) == []


def test_promote_and_rollback(registered) -> None:
    cli = registered
    r = cli("models", "promote", "intents", "--version", "2")
    assert (r.code, r.out.strip()) == (0, "intents@production -> version 2"), r.err
    r = cli("models", "show", "intents")
    shown = json.loads(r.out)
    assert shown["aliases"] == {"production": 2}
    assert [(e["version"], e["previous_version"], e["actor"]) for e in shown["alias_history"]] == [(1, None, "cli"),
                                                                                                  (2, 1, "cli")]
    r = cli("models", "rollback", "intents")
    assert (r.code, r.out.strip()) == (0, "intents@production -> version 1 (rolled back)"), r.err
    assert json.loads(cli("models", "show", "intents").out)["aliases"] == {"production": 1}
    r = cli("models", "promote", "intents", "--version", "2", "--alias", "staging")
    assert (r.code, r.out.strip()) == (0, "intents@staging -> version 2"), r.err


def test_promote_and_rollback_refusals_exit_2(registered) -> None:
    cli = registered
    r = cli("models", "promote", "intents", "--version", "9")
    assert r.code == 2 and "no version 9" in r.err and r.out == ""
    r = cli("models", "rollback", "intents", "--alias", "staging")  # never set
    assert r.code == 2 and "staging" in r.err
    r = cli("models", "rollback", "intents")  # production was set once: nothing earlier
    assert r.code == 2 and "no earlier version" in r.err
    r = cli("models", "promote", "nosuchmodel", "--version", "1")
    assert r.code == 2 and "nosuchmodel" in r.err


def test_split_and_bad_items(registered) -> None:
    cli = registered
    r = cli("models", "split", "intents", "1=0.5", "2=0.5")
    assert (r.code, r.out.strip()) == (0, "intents: v1=0.5, v2=0.5"), r.err
    assert json.loads(cli("models", "show", "intents").out)["split"] == {"1": 0.5, "2": 0.5}
    for bad in ("1:0.5", "x=0.5", "1=half", "1"):
        r = cli("models", "split", "intents", "1=0.5", bad)
        assert r.code == 2, (bad, r.out, r.err)
        assert f"bad split item {bad!r}" in r.err and "VERSION=WEIGHT" in r.err
        assert json.loads(cli("models", "show", "intents").out)["split"] == {"1": 0.5, "2": 0.5}  # unchanged
    r = cli("models", "split", "intents", "1=0.5", "7=0.5")
    assert r.code == 2 and "no version 7" in r.err
    r = cli("models", "split", "intents", "1=-1", "2=0.5")
    assert r.code == 2 and "non-negative" in r.err
    r = cli("models", "split", "intents")
    assert (r.code, r.out.strip()) == (0, "intents: split removed"), r.err
    assert json.loads(cli("models", "show", "intents").out)["split"] == {}


def test_keys_create_quiet_prints_only_the_token_and_list_never_does(cli) -> None:
    r = cli("keys", "create", "--name", "partner-x", "--scopes", "predict,feedback", "--quiet")
    assert r.code == 0, r.err
    token = r.out.strip()
    assert r.out == token + "\n" and TOKEN.match(token), r.out
    assert r.err == ""
    secret = token.split("_", 2)[2]
    r = cli("keys", "create", "--name", "admin-1", "--scopes", "admin")  # not quiet: the token, and a note
    assert r.code == 0 and TOKEN.match(r.out.strip()) and "not shown again" in r.err
    for args in (("keys", "list"), ("keys", "list", "--json")):
        listed = cli(*args)
        assert listed.code == 0, listed.err
        assert secret not in listed.out and token not in listed.out and token not in listed.err
        assert "partner-x" in listed.out and "admin-1" in listed.out
    keys = json.loads(cli("keys", "list", "--json").out)
    by_name = {k["name"]: k for k in keys}
    assert by_name["partner-x"]["scopes"] == ["predict", "feedback"] and by_name["partner-x"]["revoked_at"] is None
    assert not any("hash" in k for k in keys)
    assert token.split("_")[1] == by_name["partner-x"]["id"]


def test_keys_revoke(cli) -> None:
    key_id = cli("keys", "create", "--name", "gone-soon", "--quiet").out.strip().split("_")[1]
    r = cli("keys", "revoke", "gone-soon")
    assert (r.code, r.out.strip()) == (0, f"revoked {key_id} (gone-soon)"), r.err
    listed = cli("keys", "list")
    assert re.search(rf"^{key_id}\s+gone-soon\s+predict\s+revoked \d{{4}}-\d\d-\d\d", listed.out, re.M), listed.out
    assert json.loads(cli("keys", "list", "--json").out)[0]["revoked_at"] is not None
    r = cli("keys", "revoke", "no-such-key")
    assert r.code == 2 and "no-such-key" in r.err


def test_keys_create_refusals_exit_2(cli) -> None:
    r = cli("keys", "create", "--name", "x", "--burst", "5")
    assert r.code == 2 and "--burst needs --rate-per-s" in r.err
    r = cli("keys", "create", "--name", "x", "--scopes", "root")
    assert r.code == 2 and "root" in r.err
    assert cli("keys", "create", "--name", "dup", "--quiet").code == 0
    r = cli("keys", "create", "--name", "dup", "--quiet")
    assert r.code == 2 and "exists already" in r.err and r.out == ""
    r = cli("keys", "create", "--name", "Bad Name")
    assert r.code == 2 and "invalid key name" in r.err


def test_ab_report_without_feedback(registered) -> None:
    cli = registered
    assert cli("models", "split", "intents", "1=0.5", "2=0.5").code == 0
    r = cli("ab", "report", "intents")
    assert r.code == 0, r.err
    assert r.out.startswith("A/B report for intents\n")
    assert "v1: accuracy n/a on 0 feedback items" in r.out and "v2: accuracy n/a on 0 feedback items" in r.out
    assert "not enough feedback" in r.out
    r = cli("ab", "report", "intents", "--json", "--min-samples", "5")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["model"] == "intents" and report["significant"] is False
    assert [(a["version"], a["n"], a["weight"]) for a in report["arms"]] == [(1, 0, 0.5), (2, 0, 0.5)]
    assert "not enough feedback" in report["message"] and "of the 5 needed" in report["message"]


def test_ab_report_bad_alpha_exits_2(registered) -> None:
    r = registered("ab", "report", "intents", "--alpha", "1.5")
    assert r.code == 2 and "alpha" in r.err


def test_ab_report_of_an_unknown_model_exits_2(registered) -> None:
    r = registered("ab", "report", "intnets")
    assert r.code == 2 and "intnets" in r.err


@pytest.mark.parametrize("args", [
    pytest.param(("--rate-per-s", "inf"), id="rate-inf"),
    pytest.param(("--rate-per-s", "1e400"), id="rate-1e400"),
    pytest.param(("--rate-per-s", "nan"), id="rate-nan"),
    pytest.param(("--rate-per-s", "1", "--burst", str(10**20)), id="burst-past-int64"),
    pytest.param(("--rate-per-s", "-1"), id="rate-negative"),
])
def test_keys_create_with_an_impossible_rate_exits_2(cli, args: tuple[str, ...]) -> None:
    r = cli("keys", "create", "--name", "limited", *args)
    assert r.code == 2, (r.code, r.err[-300:])
    assert "Traceback" not in r.err and ("rate" in r.err or "burst" in r.err)
    assert json.loads(cli("keys", "list", "--json").out) == []


def test_register_a_folder_without_manifest_exits_2_and_names_it(cli, tmp_path: Path) -> None:
    folder = tmp_path / "half-trained-run"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    r = cli("models", "register", str(folder), "--name", "intents")
    assert r.code == 2 and r.out == ""
    assert str(folder) in r.err and "manifest.json" in r.err
    r = cli("models", "register", str(tmp_path / "missing"), "--name", "intents")
    assert r.code == 2 and str(tmp_path / "missing") in r.err
    assert json.loads(cli("models", "list", "--json").out) == []  # nothing half-registered


@pytest.mark.parametrize("name", ["Intents", "my model", "../etc", "-dash", "a" * 65, "x..y"])
def test_register_with_an_invalid_model_name_exits_2(cli, served_runs: dict[str, Path], name: str) -> None:
    r = cli("models", "register", str(served_runs["intents_a"]), "--name", name)
    assert r.code == 2, (r.out, r.err)
    assert "invalid model name" in r.err
    assert json.loads(cli("models", "list", "--json").out) == []


def test_serve_refuses_no_auth_on_a_public_address(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    started = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append((a, k)))  # never listen, whatever happens
    r = cli("serve", "--no-auth", "--host", "0.0.0.0", "--port", "8765", "--db", cli.db, db_option=False)
    assert r.code == 2, (r.out, r.err)
    assert "--no-auth" in r.err and "loopback" in r.err and "0.0.0.0" in r.err
    assert started == []
    # the control: on the loopback address the same command goes on to start the server (here: the stub)
    r = cli("serve", "--no-auth", "--host", "127.0.0.1", "--port", "8765", "--db", cli.db, db_option=False)
    assert r.code == 0, r.err
    assert len(started) == 1 and started[0][1]["host"] == "127.0.0.1" and started[0][1]["port"] == 8765
    assert "auth OFF" in r.err


def test_the_installed_entry_point_maps_errors_to_exit_codes(tmp_path: Path, served_runs: dict[str, Path]) -> None:
    """The same through a real process: `python -m tunelab` (stdout only the key; exit 2 on a usage error)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNELAB_")}
    env.update(TUNELAB_HOME=str(tmp_path / "home"), PYTHONPATH=str(Path(tunelab.__file__).parents[1]))
    db = f"sqlite:///{tmp_path / 'registry.db'}"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tunelab", *args, "--db", db], capture_output=True, text=True,
                              env=env, timeout=120)

    created = run("keys", "create", "--name", "ci", "--quiet")
    assert created.returncode == 0, created.stderr
    assert TOKEN.match(created.stdout.strip()) and created.stdout.count("\n") == 1
    bad = run("models", "split", "intents", "one=1")
    assert bad.returncode == 2 and "bad split item 'one=1'" in bad.stderr and "Traceback" not in bad.stderr
