"""Server settings: defaults < a YAML file < `TUNELAB_*` environment variables < command-line flags.

Built by `load_settings()` when the server starts, never at import time.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab.errors import ConfigProblem
from tunelab.fields import FAILED, Problems, check_keys, read_value, read_yaml_mapping
from tunelab.privacy.findings import NER_TYPES, PII_TYPES
from tunelab.privacy.redactor import MODES
from tunelab.registry.db import default_db_url

ENV_PREFIX = "TUNELAB_"


@dataclass(frozen=True)
class ServeSettings:
    db: str = field(default_factory=default_db_url)
    host: str = "127.0.0.1"
    port: int = 8000
    auth: bool = True  # False only with an explicit --no-auth, and only on a loopback address
    # micro-batching and models
    max_batch_size: int = 32  # texts gathered per batch
    infer_batch_size: int = 8  # texts per forward pass within a batch (length-sorted: less padding)
    max_wait_ms: float = 2.0  # how long the first request of a batch waits for company
    max_models: int = 4  # loaded model versions kept in memory (LRU)
    precision: str = "auto"  # auto: bf16 where the CPU/GPU runs it natively, else fp32
    backend: str = "auto"  # auto: the fastest exported artifact that passed its gate, else torch; or a name
    threads: int = 0  # torch intra-op threads; 0: all cores
    # request limits
    max_texts: int = 256
    max_chars: int = 10_000
    max_body_bytes: int = 2_000_000
    # prediction log
    log_text: bool = True  # False: store only the SHA-256 of each text
    retention_days: float = 30.0  # predictions without feedback older than this are deleted
    # personal data (tunelab.privacy): redacted before a text is stored (predictions, feedback, assistant turns and
    #   hand-offs, monitor items); the model still sees the original text
    privacy_redact: tuple[str, ...] = ()  # types (email, phone, card, ...; all); empty: off
    privacy_mode: str = "mask"  # mask ([EMAIL]), hash ([EMAIL:1a2b3c4d], salt: privacy-salt in the home) or drop
    privacy_ner_model: str = ""  # an NER run folder, needed for person/organisation/location
    privacy_ner_model_multilingual: str = ""  # a multilingual one for texts in other scripts (or alone: every text)
    # API keys
    rate_per_s: float = 100.0  # default per-key token bucket: requests per second (0: unlimited)
    burst: int = 200
    key_cache_s: float = 5.0  # how long a key lookup is cached (a revoked key stops within this)
    registry_cache_s: float = 2.0  # how long aliases/splits are cached (other replicas' changes show within)
    usage_flush_s: float = 2.0
    # misc
    metrics_public: bool = False  # /metrics names API keys: by default it needs an admin key
    cors_origins: tuple[str, ...] = ()  # CORS is off unless origins are listed
    runs_root: str = ""  # the runs folder (default: home()/runs): folders named by callers must lie under it
    log_level: str = "info"
    # monitor webhooks and events (apps/monitor/policy.py::build_policy)
    webhook_hosts: tuple[str, ...] = ()  # hosts webhooks may reach (host, host:port, *.example.com); empty: none
    webhook_allow_private: bool = False  # let webhooks reach loopback/private/link-local addresses (checked after DNS)
    webhook_secrets_file: str = ""  # YAML/JSON `name: value` file (mode 0600) for `${secret:NAME}` in webhook headers
    max_clock_skew_s: float = 300.0  # monitor events stamped further ahead of the server clock are refused (422)
    # the closed loop (tunelab.loop.scheduler): these policy files' models retrain when their trigger says so
    loop_policies: tuple[str, ...] = ()  # loop.yaml files (operator's, not callers'); empty: no scheduler
    loop_check_s: float = 300.0  # how often the triggers are checked
    loop_timeout_s: float = 6 * 3600.0  # a retraining child process running longer is stopped
    # browsers and slow clients
    allowed_hosts: tuple[str, ...] = ()  # Host headers served (name or name:port); empty: loopback names without
    #   auth, any with auth. A DNS-rebinding page reaches a --no-auth server under a foreign name: refused
    api_docs: bool = False  # /docs and /redoc (they load scripts from a public CDN on the server's origin)
    request_timeout_s: float = 30.0  # a request body not fully received by then is refused (408)
    limit_concurrency: int = 0  # uvicorn: connections served at once before 503 (0: uvicorn's default, none)
    timeout_keep_alive_s: float = 5.0  # uvicorn: idle keep-alive connections are closed after this

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def has_ner(self) -> bool:
        """Whether an NER run folder is set, so person, organisation and location can be redacted."""
        return bool(self.privacy_ner_model or self.privacy_ner_model_multilingual)

    def problems(self) -> list[ConfigProblem]:
        """Every value that types alone cannot rule out, each named by its setting."""
        checks = [
            (self.auth or self.loopback, "auth",
             f"--no-auth is only allowed on a loopback address, not {self.host!r} (bind to 127.0.0.1, or create "
             f"keys with `tunelab keys create`)"),
            (self.precision in ("auto", "fp32", "bf16"), "precision", "must be auto, fp32 or bf16"),
            *((getattr(self, name) >= 1, name, "must be at least 1") for name in
              ("max_batch_size", "infer_batch_size", "max_models", "max_texts", "max_chars", "max_body_bytes")),
            (self.max_wait_ms >= 0, "max_wait_ms", "must be >= 0"),
            (self.retention_days > 0, "retention_days", "must be > 0"),
            (set(self.privacy_redact) <= {*PII_TYPES, "all"}, "privacy_redact",
             f"unknown type(s) {sorted(set(self.privacy_redact) - {*PII_TYPES, 'all'})}; use {', '.join(PII_TYPES)}"),
            (self.privacy_mode in MODES, "privacy_mode", f"must be one of {', '.join(MODES)}"),
            (self.loop_check_s >= 1, "loop_check_s", "must be >= 1 (seconds)"),
            (self.loop_timeout_s >= 60, "loop_timeout_s", "must be >= 60 (seconds)"),
            *((Path(f).is_file(), "loop_policies", f"{f}: no such policy file") for f in self.loop_policies),
            (self.has_ner or not set(self.privacy_redact) & set(NER_TYPES), "privacy_ner_model",
             "person, organisation and location need an NER run folder"),
        ]
        return [ConfigProblem(name, message) for ok, name, message in checks if not ok]

    def check(self) -> ServeSettings:
        """Self, or one ConfigError listing every problem."""
        found = Problems()
        found.items.extend(self.problems())
        found.raise_any(what="settings")
        return self


def load_settings(file: str | Path | None = None, env: Mapping[str, str] | None = None,
                  **flags: Any) -> ServeSettings:
    """Merge the layers; unknown keys in the file or flags are errors; `None` flags mean "not given".

    Every problem of every layer is reported at once, each named by its place: the key in the file, the
    `TUNELAB_*` variable, or the flag. Values are read as each field's type (`typing.get_type_hints`):
    environment variables are text (`TUNELAB_AUTH=off`, `TUNELAB_PORT=8001`, `TUNELAB_CORS_ORIGINS=a,b`)."""
    hints = typing.get_type_hints(ServeSettings)
    found = Problems()
    values: dict[str, Any] = {}
    if file:
        data = read_yaml_mapping(file)
        check_keys(data, hints, "", found)
        _read_layer(data, hints, lambda name: name, found, values, text=False)
    env = os.environ if env is None else env
    from_env = {name: env[ENV_PREFIX + name.upper()] for name in hints if ENV_PREFIX + name.upper() in env}
    _read_layer(from_env, hints, lambda name: ENV_PREFIX + name.upper(), found, values, text=True)
    given = {name: value for name, value in flags.items() if value is not None}
    check_keys(given, hints, "", found)
    _read_layer(given, hints, lambda name: name, found, values, text=False)
    found.raise_any(str(file) if file else None, what="settings")
    settings = dataclasses.replace(ServeSettings(), **values)
    return settings.check()


def _read_layer(raw: Mapping[str, Any], hints: dict[str, Any], where: Any, found: Problems,
                values: dict[str, Any], *, text: bool) -> None:
    """Read one layer's known keys into `values` (a later layer overrides an earlier one)."""
    for name, value in raw.items():
        if name in hints:
            converted = read_value(hints[name], value, where(name), found, text=text or isinstance(value, str))
            if converted is not FAILED:
                values[name] = converted
