"""Shared fixtures: a tiny random BERT built in the test session, small data files and a PostgreSQL database."""

from __future__ import annotations

import csv
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest

REAL_FEW_SHOT_MEDIAN = 16.0  # tunelab.training.defaults.FEW_SHOT_MEDIAN, which `fine_tuning_loop` lowers
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# The database .ci/postgres.sh sets up; TUNELAB_TEST_PG_URL overrides it.
DEFAULT_PG_URL = "postgresql+psycopg://tunelab:tunelab@127.0.0.1:5432/tunelab_test"

INTENTS = {
    "refund": ["i want my money back", "please refund my order", "refund the charge now",
               "how do i get a refund", "money back for this purchase", "give me a refund please"],
    "shipping": ["where is my parcel", "my package has not arrived", "track my delivery",
                 "when will the parcel ship", "delivery is late again", "parcel tracking number please"],
    "password": ["i forgot my password", "reset my password please", "cannot log in password wrong",
                 "password reset link", "change my login password", "locked out need new password"],
}

NER_SENTENCES = [
    (["Alice", "visited", "Paris", "today"], ["B-PER", "O", "B-LOC", "O"]),
    (["Bob", "Smith", "works", "at", "Acme"], ["B-PER", "I-PER", "O", "O", "B-ORG"]),
    (["Paris", "is", "big"], ["B-LOC", "O", "O"]),
    (["Acme", "hired", "Alice"], ["B-ORG", "O", "B-PER"]),
    (["Carol", "left", "Berlin"], ["B-PER", "O", "B-LOC"]),
    (["Globex", "and", "Acme", "merged"], ["B-ORG", "O", "B-ORG", "O"]),
]


class CliResult(NamedTuple):
    code: int
    out: str
    err: str


def invoke_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CliResult:
    """`tunelab *argv` in-process through the real entry point (it maps TunelabError to a message and an exit
    code), with `sys.argv` patched; what it printed is captured."""
    import sys

    from tunelab.cli.main import main

    monkeypatch.setattr(sys, "argv", ["tunelab", *argv])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return CliResult(code, out, err)


def isolated_cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """No outside TUNELAB_* setting leaks in, TUNELAB_HOME is a temporary folder (never the user's ~/.tunelab);
    returns the URL of a fresh SQLite registry for `--db`."""
    for name in [n for n in os.environ if n.startswith("TUNELAB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TUNELAB_HOME", str(tmp_path / "home"))
    return f"sqlite:///{tmp_path / 'registry.db'}"


def all_texts() -> list[str]:
    texts = [t for examples in INTENTS.values() for t in examples]
    texts += [" ".join(words) for words, _ in NER_SENTENCES]
    texts += ["unknown words appear here", "hello world"]
    return texts


@pytest.fixture(scope="session", autouse=True)
def fine_tuning_loop() -> Iterator[None]:
    """Keep `tunelab train` on the fine-tuning loop by default in tests. Their small data sets (6 to 10 texts per
    class) would otherwise take the automatic few-shot recipe, and the tests written for the loop (resume, early
    stopping, methods, DP, the closed loop's retraining...) would no longer test it. Session-wide, so the runs
    that session fixtures train keep the loop too. The few-shot tests (tests/training/test_few_shot.py) put
    REAL_FEW_SHOT_MEDIAN back for themselves."""
    from tunelab.training import defaults

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(defaults, "FEW_SHOT_MEDIAN", 0.5)  # a median of examples per class is never <= 0.5
        yield


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tunelab.models.tiny import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), all_texts())


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def intent_csv(tmp_path: Path) -> Path:
    rows = [{"text": t, "label": label} for label, texts in INTENTS.items() for t in texts]
    return write_csv(tmp_path / "intents.csv", rows)


@pytest.fixture
def multilabel_jsonl(tmp_path: Path) -> Path:
    rows = []
    for label, texts in INTENTS.items():
        for t in texts:
            labels = [label] + (["urgent"] if "please" in t or "now" in t else [])
            rows.append({"text": t, "label": labels})
    path = tmp_path / "multi.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def ner_conll(tmp_path: Path) -> Path:
    lines = ["-DOCSTART- -X- O O", ""]
    for words, tags in NER_SENTENCES:
        lines += [f"{w} X X {t}" for w, t in zip(words, tags)] + [""]
    path = tmp_path / "ner.conll"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def shared_data(name: str) -> Path:
    """A data set from ../shared/data: skip when absent, fail under CI."""
    folder = SHARED_DATA / name
    if not folder.is_dir():
        message = f"shared data set {folder} is absent (see ../shared/data/README.md)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI must have it")
        pytest.skip(message)
    return folder


def _drop_database(admin: Any, name: str, quoted: str, attempts: int = 50) -> None:
    """Drop a test database. Client sessions are ended first; an autovacuum worker on it (a superuser process
    the test role may not signal, so even `WITH (FORCE)` fails) finishes within moments: retry for ~10 s."""
    import sqlalchemy as sa

    for attempt in range(attempts):
        try:
            with admin.connect() as conn:
                conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"
                                     " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"),
                             {"name": name})
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted}"))
            return
        except sa.exc.DBAPIError:  # still in use (autovacuum, a session ending): try again shortly
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped on exit.

    The server comes from TUNELAB_TEST_PG_URL (else DEFAULT_PG_URL); its role needs CREATEDB.
    Unreachable: skip, or fail under CI."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    base_url = sa.make_url(os.environ.get("TUNELAB_TEST_PG_URL") or DEFAULT_PG_URL)
    shown = base_url.render_as_string(hide_password=True)  # never print the password
    connect_args = {"connect_timeout": 3} if base_url.get_backend_name() == "postgresql" else {}
    admin = sa.create_engine(base_url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=connect_args)
    try:
        try:
            with admin.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as error:
            reason = str(error.orig or error).strip().splitlines()[0]
            message = f"PostgreSQL not reachable at {shown} ({reason}); run `bash .ci/postgres.sh` to start it"
            if os.environ.get("CI") == "true":
                pytest.fail(message + "; CI must have it")
            pytest.skip(message)

        name = f"tunelab_t_{uuid.uuid4().hex[:10]}"
        quoted = admin.dialect.identifier_preparer.quote(name)
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
        try:
            yield base_url.set(database=name).render_as_string(hide_password=False)
        finally:
            _drop_database(admin, name, quoted)
    finally:
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database per test (`fresh_pg_database`), so tests can run in any order."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def served_runs(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> dict[str, Path]:
    """Finished run folders on the tiny model, for registry and server tests: two classification runs
    (different seeds), one multi-label, one NER. Trained once per session (a few seconds each)."""
    import tunelab

    root = tmp_path_factory.mktemp("served-runs")
    intents = write_csv(root / "intents.csv", [{"text": t, "label": label}
                                               for label, texts in INTENTS.items() for t in texts])
    multi = root / "multi.jsonl"
    multi.write_text("\n".join(json.dumps({"text": t, "label": [label] + (["urgent"] if "please" in t else [])})
                               for label, texts in INTENTS.items() for t in texts) + "\n", encoding="utf-8")
    ner = root / "ner.conll"
    ner.write_text("\n\n".join("\n".join(f"{w} X X {t}" for w, t in zip(words, tags))
                               for words, tags in NER_SENTENCES) + "\n", encoding="utf-8")
    common = {"model": str(tiny_model), "epochs": 30, "batch_size": 6, "lr": 3e-3, "warmup_ratio": 0.0,
              "patience": 0, "precision": "fp32", "show_progress": False}
    specs = {"intents_a": (intents, "classification", 1), "intents_b": (intents, "classification", 2),
             "multilabel": (multi, "multilabel", 1), "ner": (ner, "ner", 1)}
    out = {}
    for name, (data, task, seed) in specs.items():
        tunelab.train(data=str(data), dev=str(data), test=str(data), task=task, output=str(root / name),
                      seed=seed, **common)
        out[name] = root / name
    return out


# ---- the assistant built once per session (tests/apps/assistant and the dashboard's assistant pages) ----------


@pytest.fixture(scope="session")
def kb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small knowledge base of tests/apps/assistant/conftest.py (`kb_yaml`) as a file."""
    from tests.apps.assistant.conftest import kb_yaml

    path = tmp_path_factory.mktemp("kb") / "kb.yaml"
    path.write_text(kb_yaml(), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, kb_file: Path) -> Path:
    """An assistant folder built from `kb_file` on the tiny model (named `support`, not registered)."""
    from tests.apps.assistant.conftest import tiny_options
    from tunelab.apps.assistant.build import run_build

    out = tmp_path_factory.mktemp("assistant") / "support"
    run_build(kb_file, out, tiny_options(tiny_model))
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A registry Store on a fresh SQLite file, then on a fresh PostgreSQL database (skipped when unreachable)."""
    from tunelab.registry import Store

    url = f"sqlite:///{tmp_path / 'registry.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    try:
        yield store
    finally:
        store.close()
