"""What the operator allows monitors to do: webhook hosts, private addresses, named webhook secrets, clock skew, model
folders. The server builds one `MonitorPolicy` from its settings; the CLI builds its own from flags.

Secrets never come from the environment or from an API caller: the operator writes them in a YAML/JSON file
(`name: value`, mode 0600) and configs refer to them as `${secret:NAME}` in webhook header values.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from tunelab.apps.monitor.config import SECRET_REF, WebhookConfig
from tunelab.errors import ConfigError, UsageError
from tunelab.paths import read_text_bounded

log = logging.getLogger("tunelab.monitor")
DEFAULT_CLOCK_SKEW_S = 300.0
_SECRET_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")


@dataclass(frozen=True)
class WebhookSecrets:
    """Named secret values for webhook headers; `repr` never shows a value."""

    values: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.values))

    def expand(self, text: str, where: str) -> str:
        """`text` with every `${secret:NAME}` replaced; an unknown NAME is a ConfigError naming it (no values)."""
        missing = [m.group(1) for m in SECRET_REF.finditer(text) if m.group(1) not in self.values]
        if missing:
            raise ConfigError(f"{where}: unknown webhook secret(s) {sorted(set(missing))}",
                              hint="the operator defines them in the server's webhook_secrets_file")
        return SECRET_REF.sub(lambda m: self.values[m.group(1)], text)


def load_webhook_secrets(path: str | Path | None) -> WebhookSecrets:
    """Read the operator's secrets file (a YAML or JSON mapping name -> string value); '' or None: no secrets.
    A file readable by group or others is accepted with a warning (0600 is recommended)."""
    if not path:
        return WebhookSecrets()
    import yaml

    try:
        text = read_text_bounded(path, what="webhook secrets file")
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except UsageError as exc:
        raise ConfigError(exc.message) from None
    except (ValueError, yaml.YAMLError):
        raise ConfigError(f"{path}: not a valid YAML/JSON mapping of secret names to values") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of secret names to values")
    bad = [str(k)[:64] for k, v in data.items()
           if not isinstance(k, str) or not _SECRET_NAME.match(k) or not isinstance(v, str) or not v
           or not _HEADER_VALUE.match(v)]
    if bad:  # names only: never a value
        raise ConfigError(f"{path}: bad secret(s) {sorted(bad)}",
                          hint="names: 1-64 letters, digits, '.', '_', '-'; values: non-empty one-line strings")
    if os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by other users: chmod 600 it", path)
    return WebhookSecrets(data)


@dataclass(frozen=True)
class MonitorPolicy:
    """The operator's limits on monitors. The defaults are the strict ones: no webhook host, no private address,
    no secret, 5 minutes of clock skew, model folders only from registered models (no folder path)."""

    webhook_hosts: tuple[str, ...] = ()  # `host`, `host:port` or `*.example.com`; empty: no webhook allowed
    allow_private: bool = False  # deliver to loopback / private / link-local addresses
    secrets: WebhookSecrets = field(default_factory=WebhookSecrets)
    max_clock_skew_s: float = DEFAULT_CLOCK_SKEW_S  # events further ahead of the wall clock are refused
    model_roots: tuple[str, ...] | None = ()  # run folders allowed in configs; None: any (the operator's CLI)

    def __post_init__(self) -> None:
        if not self.max_clock_skew_s >= 0:
            raise ConfigError("max_clock_skew_s must be a number of seconds >= 0")

    def host_allowed(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            host, port = (parts.hostname or "").lower().rstrip("."), parts.port
        except ValueError:
            return False
        port = port or (443 if parts.scheme == "https" else 80)
        return bool(host) and any(_host_matches(entry.strip().lower(), host, port) for entry in self.webhook_hosts)

    def webhook_problems(self, webhook: WebhookConfig) -> list[str]:
        """Why this webhook may not be used (host not allowed, unknown secrets), as `field: message` lines."""
        problems = []
        if not self.host_allowed(webhook.url):
            host = urlsplit(webhook.url).hostname or "?"
            problems.append(f"webhook.url: host {host!r} is not in the server's webhook_hosts "
                            "(the operator lists the hosts webhooks may reach)")
        for name, value in webhook.headers.items():
            try:
                self.secrets.expand(value, f"webhook.headers.{name}")
            except ConfigError as exc:
                problems.append(exc.message)
        return problems

    def headers_for(self, webhook: WebhookConfig) -> dict[str, str]:
        return {name: self.secrets.expand(value, f"webhook.headers.{name}") for name, value in webhook.headers.items()}


def build_policy(*, webhook_hosts: tuple[str, ...] = (), webhook_allow_private: bool = False,
                 webhook_secrets_file: str = "", max_clock_skew_s: float = DEFAULT_CLOCK_SKEW_S,
                 runs_root: str = "") -> MonitorPolicy:
    """The server's policy from its settings: model folders only under `runs_root` (none when it is unset)."""
    return MonitorPolicy(tuple(webhook_hosts), bool(webhook_allow_private), load_webhook_secrets(webhook_secrets_file),
                         float(max_clock_skew_s), (runs_root,) if runs_root else ())


def _host_matches(entry: str, host: str, port: int) -> bool:
    name, want_port = _split_entry(entry)
    if not name or (want_port and (not want_port.isdigit() or int(want_port) != port)):
        return False
    name = name.rstrip(".")
    if name.startswith("*."):
        return host.endswith(name[1:]) and host != name[2:]
    return host == name


def _split_entry(entry: str) -> tuple[str, str]:
    """`host`, `host:port`, `[v6]`, `[v6]:port`, a bare IPv6 address -> (host, port or '')."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        return name, rest[1:] if rest.startswith(":") else ""
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, port
    return entry, ""
