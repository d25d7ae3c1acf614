"""Encryption at rest of customer texts and outputs: AES-256-GCM (the `cryptography` package) on the columns that
hold them, through two SQLAlchemy column types, so every read and write path of every store is covered at once.

    SealedText   a text column (a prediction's input, a feedback comment, a conversation's question and answer,
                 a hand-off, a monitor item)
    SealedJSON   a JSON column (a prediction's output, a feedback label: NER spans carry the text)

Keys: `TUNELAB_DATA_KEY` (one key, base64 of 32 random bytes) or `TUNELAB_DATA_KEY_FILE`, a file readable by its
owner only (mode 0600) holding one key per line, the first the one that encrypts, the others older keys still
accepted for reading (rotation: `tunelab keys new-data-key`, then `tunelab keys rotate-data-key`). Without a key
nothing is encrypted. A stored value names the key that sealed it (the first 8 hex digits of its SHA-256), is
authenticated (a changed byte fails to open) and carries its own random 96-bit nonce:

    enc1:<key id>:<base64(nonce + ciphertext + tag)>
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.types import JSON, Text, TypeDecorator

from tunelab.errors import ConfigError, ConfigProblem

PREFIX = "enc1:"
KEY_ENV, KEY_FILE_ENV = "TUNELAB_DATA_KEY", "TUNELAB_DATA_KEY_FILE"


@dataclass(frozen=True)
class DataKey:
    key_id: str
    secret: bytes = field(repr=False)

    @classmethod
    def parse(cls, text: str, where: str) -> DataKey:
        try:
            secret = base64.b64decode(text.strip(), validate=True)
        except ValueError:
            secret = b""
        if len(secret) != 32:
            raise _error(where, "a data key is base64 of 32 random bytes (make one with `tunelab keys new-data-key`)")
        return cls(hashlib.sha256(secret).hexdigest()[:8], secret)


def _error(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}", problems=[ConfigProblem(where, message)])


def new_key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


@dataclass(frozen=True)
class Keyring:
    """The key that seals (`primary`) and every key that may open (`keys`, by id)."""

    primary: DataKey
    keys: Mapping[str, DataKey]

    def seal(self, plaintext: str) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(12)
        sealed = AESGCM(self.primary.secret).encrypt(nonce, plaintext.encode("utf-8"), None)
        return f"{PREFIX}{self.primary.key_id}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def open(self, token: str) -> str:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key_id, _, body = token[len(PREFIX):].partition(":")
        key = self.keys.get(key_id)
        if key is None:
            raise _error(KEY_FILE_ENV, f"a stored text was sealed with data key {key_id}, which is not in the "
                                       "keyring; add that key (as an older line of the key file)")
        raw = base64.b64decode(body)
        try:
            return AESGCM(key.secret).decrypt(raw[:12], raw[12:], None).decode("utf-8")
        except InvalidTag:
            raise _error("database", f"a stored value sealed with data key {key_id} fails its "
                                     "authentication: it was changed or damaged") from None


def load_keyring(env: Mapping[str, str] | None = None) -> Keyring | None:
    """The keyring from the environment (None: encryption off)."""
    env = os.environ if env is None else env
    texts: list[tuple[str, str]] = []
    if env.get(KEY_ENV):
        texts.append((env[KEY_ENV], KEY_ENV))
    if env.get(KEY_FILE_ENV):
        path = Path(env[KEY_FILE_ENV])
        texts += [(line, f"{path}:{n}") for n, line in enumerate(read_key_file(path), start=1)]
    if not texts:
        return None
    keys = [DataKey.parse(text, where) for text, where in texts]
    return Keyring(keys[0], {k.key_id: k for k in keys})


def read_key_file(path: Path) -> list[str]:
    """Key lines of a key file, refused unless only its owner may read it."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise _error(KEY_FILE_ENV, f"cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise _error(KEY_FILE_ENV, f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); run "
                                   f"`chmod 600 {path}`")
    return [line.strip() for line in path.read_text(encoding="ascii").splitlines()
            if line.strip() and not line.startswith("#")]


_lock = threading.Lock()
_active: list[Keyring | None] = []  # [] until first use: loaded from the environment once per process


def active() -> Keyring | None:
    with _lock:
        if not _active:
            _active.append(load_keyring())
        return _active[0]


def use(keyring: Keyring | None) -> None:
    """Set the process's keyring (tests, key rotation); `reset()` goes back to the environment's."""
    with _lock:
        _active[:] = [keyring]


def reset() -> None:
    with _lock:
        _active.clear()


def open_text(value: str) -> str:
    if not value.startswith(PREFIX):
        return value  # written before encryption was switched on: read as it is
    keyring = active()
    if keyring is None:
        raise _error(KEY_ENV, "stored texts are encrypted: set TUNELAB_DATA_KEY or TUNELAB_DATA_KEY_FILE to the "
                              "data key")
    return keyring.open(value)


class SealedText(TypeDecorator[str]):
    """A text column sealed with the active data key (plain when there is none)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        keyring = active()
        return value if value is None or keyring is None else keyring.seal(str(value))

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return value if value is None else open_text(value)


class SealedJSON(TypeDecorator[Any]):
    """A JSON column sealed with the active data key: stored as {"sealed": "enc1:..."} (plain when there is none)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        keyring = active()
        if value is None or keyring is None:
            return value
        return {"sealed": keyring.seal(json.dumps(value, ensure_ascii=False))}

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"sealed"} and isinstance(value["sealed"], str):
            return json.loads(open_text(value["sealed"]))
        return value


def sealed_with(raw: Any) -> str | None:
    """The key id a stored (raw) value was sealed with; None when it is plain."""
    if isinstance(raw, dict) and isinstance(raw.get("sealed"), str):
        raw = raw["sealed"]
    if isinstance(raw, str) and raw.startswith(PREFIX):
        return raw[len(PREFIX):].split(":", 1)[0]
    return None
