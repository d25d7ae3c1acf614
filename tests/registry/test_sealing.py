"""Encryption at rest: texts and outputs written with a data key are unreadable in the raw database file and read
back unchanged through the store; a missing or wrong key fails with a clear error; a key file readable by others
is refused; rotation re-seals everything with the new key, in batches, resumably; plain rows from before stay
readable and are sealed by the rotation."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tunelab
from tunelab.errors import ConfigError
from tunelab.migrations.tables import TABLE_MODULES
from tunelab.registry import PredictionRecord, Store, sealing
from tunelab.registry.rotation import rotate
from tunelab.registry.schema import metadata

SECRET = "Jane Roe, card 4111 1111 1111 1111, wants a refund"


@pytest.fixture(autouse=True)
def fresh_keyring() -> Iterator[None]:
    sealing.reset()
    yield
    sealing.reset()


def keyring(*texts: str) -> sealing.Keyring:
    keys = [sealing.DataKey.parse(t, "test") for t in texts]
    return sealing.Keyring(keys[0], {k.key_id: k for k in keys})


def log(store: Store, n: int, text: str = SECRET) -> None:
    store.log_predictions([PredictionRecord(f"p{i:04d}", "m", 1, {"label": "refund", "spans": [text[:8]]}, 1.0,
                                            f"{text} #{i}") for i in range(n)])


def raw_rows(path: Path, table: str, column: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute(f"SELECT {column} FROM {table}")]  # noqa: S608 - test's own names


def test_sealed_at_rest_and_read_back(tmp_path: Path) -> None:
    sealing.use(keyring(sealing.new_key_text()))
    db = tmp_path / "r.db"
    store = Store(f"sqlite:///{db}")
    log(store, 3)
    store.add_feedback("p0001", label="shipping", comment="call me on +44 20 7946 0958")
    store.close()
    assert SECRET.encode() not in db.read_bytes() and b"7946" not in db.read_bytes()
    assert all(v.startswith("enc1:") for v in raw_rows(db, "predictions", "text"))
    store = Store(f"sqlite:///{db}")
    row = store.get_prediction("p0001")
    assert row["text"] == f"{SECRET} #1" and row["output"]["spans"] == [SECRET[:8]]
    sealing.use(None)
    with pytest.raises(ConfigError, match="stored texts are encrypted"):
        store.get_prediction("p0001")
    sealing.use(keyring(sealing.new_key_text()))  # another key: not the one that sealed them
    with pytest.raises(ConfigError, match="not in the keyring"):
        store.get_prediction("p0001")


def test_a_changed_byte_fails_authentication() -> None:
    ring = keyring(sealing.new_key_text())
    sealed = ring.seal("hello")
    body = bytearray(sealed.encode())
    body[-5] = ord("A") if body[-5] != ord("A") else ord("B")
    with pytest.raises(ConfigError, match="authentication"):
        ring.open(body.decode())


def test_key_file_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "data.key"
    path.write_text(sealing.new_key_text() + "\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        sealing.load_keyring({"TUNELAB_DATA_KEY_FILE": str(path)})
    path.chmod(0o600)
    assert sealing.load_keyring({"TUNELAB_DATA_KEY_FILE": str(path)}) is not None
    with pytest.raises(ConfigError, match="32 random bytes"):
        sealing.load_keyring({"TUNELAB_DATA_KEY": "too-short"})
    assert sealing.load_keyring({}) is None


def test_rotation_reseals_in_batches_and_plain_rows_too(tmp_path: Path) -> None:
    assert TABLE_MODULES
    db = tmp_path / "r.db"
    store = Store(f"sqlite:///{db}")
    log(store, 4, "plain before encryption")  # written with no key
    old, new = sealing.new_key_text(), sealing.new_key_text()
    sealing.use(keyring(old))
    store.log_predictions([PredictionRecord(f"q{i}", "m", 1, {"label": "x"}, 1.0, f"{SECRET} {i}")
                           for i in range(7)])
    ring = keyring(new, old)
    sealing.use(ring)
    seen: list[int] = []
    report = rotate(store.engine, ring, metadata, batch=3, progress=lambda table, n: seen.append(n))
    assert report.rewritten["predictions"] == 11 and report.scanned["predictions"] == 11
    assert seen[:4] == [3, 6, 9, 11]
    texts = raw_rows(db, "predictions", "text")
    assert all(t.startswith(f"enc1:{ring.primary.key_id}:") for t in texts)
    assert b"plain before encryption" not in db.read_bytes()
    again = rotate(store.engine, ring, metadata, batch=3)
    assert again.rewritten["predictions"] == 0  # resumable: done rows are skipped
    sealing.use(keyring(new))  # the old key may go now
    assert store.get_prediction("q3")["text"] == f"{SECRET} 3"
    assert store.get_prediction("p0002")["text"] == "plain before encryption #2"


def test_cli_new_key_and_rotation(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "data.key"
    key_file.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(tunelab.__file__).parents[1]),
           "TUNELAB_DB": f"sqlite:///{tmp_path / 'r.db'}", "TUNELAB_DATA_KEY_FILE": str(key_file)}
    env.pop("TUNELAB_DATA_KEY", None)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tunelab", "keys", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    first = cli("new-data-key", "--file", str(key_file))
    assert first.returncode == 0, first.stderr
    assert oct(key_file.stat().st_mode & 0o777) == "0o600" and len(key_file.read_text().split()) == 1
    assert cli("new-data-key", "--file", str(key_file)).returncode == 0
    assert len(key_file.read_text().split()) == 2  # the new key first, the old one kept for reading
    rotated = cli("rotate-data-key", "--batch", "2")
    assert rotated.returncode == 0, rotated.stderr
    assert "everything is sealed with data key" in rotated.stdout
    key_file.chmod(0o640)
    refused = cli("rotate-data-key")
    assert refused.returncode == 2 and "chmod 600" in refused.stderr
