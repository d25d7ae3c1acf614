"""Server settings: defaults < a YAML file < `TUNELAB_*` environment variables < command-line flags.

Built by `load_settings()` when the server starts, never at import time.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tunelab.errors import ConfigError
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
    # API keys
    rate_per_s: float = 100.0  # default per-key token bucket: requests per second (0: unlimited)
    burst: int = 200
    key_cache_s: float = 5.0  # how long a key lookup is cached (a revoked key stops within this)
    registry_cache_s: float = 2.0  # how long aliases/splits are cached (other replicas' changes show within)
    usage_flush_s: float = 2.0
    # misc
    metrics_public: bool = False  # /metrics names API keys: by default it needs an admin key
    cors_origins: tuple[str, ...] = ()  # CORS is off unless origins are listed
    runs_root: str = ""  # when set, registering through the API only accepts run folders under it
    log_level: str = "info"
    # monitor webhooks and events (apps/monitor/policy.py::build_policy)
    webhook_hosts: tuple[str, ...] = ()  # hosts webhooks may reach (host, host:port, *.example.com); empty: none
    webhook_allow_private: bool = False  # let webhooks reach loopback/private/link-local addresses (checked after DNS)
    webhook_secrets_file: str = ""  # YAML/JSON `name: value` file (mode 0600) for `${secret:NAME}` in webhook headers
    max_clock_skew_s: float = 300.0  # monitor events stamped further ahead of the server clock are refused (422)

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def check(self) -> ServeSettings:
        if not self.auth and not self.loopback:
            raise ConfigError(f"--no-auth is only allowed on a loopback address, not {self.host!r}",
                              hint="bind to 127.0.0.1, or create keys with `tunelab keys create`")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError("precision must be auto, fp32 or bf16")
        for name in ("max_batch_size", "infer_batch_size", "max_models", "max_texts", "max_chars", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.max_wait_ms < 0 or self.retention_days <= 0:
            raise ConfigError("max_wait_ms must be >= 0 and retention_days > 0")
        return self


def _convert(name: str, kind: Any, value: Any) -> Any:
    kind = str(kind)
    try:
        if "bool" in kind:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if "tuple" in kind:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(v).strip() for v in items if str(v).strip())
        if "int" in kind and "float" not in kind:
            return int(value)
        if "float" in kind:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name!r}: cannot read {value!r} as {kind}") from None


def load_settings(file: str | Path | None = None, env: Mapping[str, str] | None = None,
                  **flags: Any) -> ServeSettings:
    """Merge the layers; unknown keys in the file are errors; `None` flags mean "not given"."""
    import yaml

    known = {f.name: f.type for f in fields(ServeSettings)}
    values: dict[str, Any] = {}
    if file:
        path = Path(file)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{path}: unknown settings {unknown}", hint=f"known: {', '.join(sorted(known))}")
        values.update(data)
    env = os.environ if env is None else env
    for name in known:
        if ENV_PREFIX + name.upper() in env:
            values[name] = env[ENV_PREFIX + name.upper()]
    unknown_flags = sorted(set(flags) - set(known))
    if unknown_flags:
        raise ConfigError(f"unknown settings {unknown_flags}")
    values.update({k: v for k, v in flags.items() if v is not None})
    converted = {k: _convert(k, known[k], v) for k, v in values.items()}
    return dataclasses.replace(ServeSettings(), **converted).check()
