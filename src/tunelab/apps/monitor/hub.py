"""The monitors one process serves, by name: defined in the registry database, loaded on first use, delivered."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

from tunelab.apps.monitor.classify import Classifier
from tunelab.apps.monitor.config import MonitorConfig, WebhookConfig, parse_monitor_config
from tunelab.apps.monitor.monitor import Monitor
from tunelab.apps.monitor.outbox import DeliveryReport, Outbox, Sender
from tunelab.apps.monitor.policy import MonitorPolicy
from tunelab.apps.monitor.store import MonitorStore
from tunelab.apps.monitor.webhook import post_json
from tunelab.errors import ConfigError, UsageError
from tunelab.inference.loader import ModelLoader
from tunelab.privacy import Redactor
from tunelab.privacy.policies import Redactors

DELIVERY_WAIT_S = 1.0  # a delivery pass waits this long for its destinations; slower ones finish in the background


class MonitorHub:
    """`hub.get(name)` -> a loaded Monitor; `hub.define(name, raw)` validates, loads and stores a config.

    `policy`: what the operator allows (webhook hosts, secrets, clock skew, model folders); the default is the
    strict one (no webhook host, registered models only)."""

    def __init__(self, registry: Any, *, policy: MonitorPolicy | None = None, sender: Sender | None = None,
                 classifier: Classifier | None = None, loader: ModelLoader | None = None,
                 redactors: Redactors | None = None) -> None:
        self.registry = registry
        self.policy = policy or MonitorPolicy()
        self.loader = loader  # the server's model cache: one LRU and one backend choice for every model
        self.redactors = redactors  # item texts are stored redacted: each monitor's own policy, else the server's
        self.store = MonitorStore(registry.engine)
        self.sender = sender or partial(post_json, policy=self.policy)
        self._classifier = classifier  # tests: a fixed classifier instead of the configured models
        self._monitors: dict[str, Monitor] = {}
        self._lock = threading.Lock()
        self.outbox = Outbox(self.store, self.webhook, self.sender)

    def define(self, name: str, raw: dict[str, Any], *, source: str = "request body") -> Monitor:
        config = parse_monitor_config({**raw, "name": raw.get("name", name)}, source=source)
        if config.name != name:
            raise UsageError(f"the config names monitor {config.name!r}, the URL {name!r}")
        self.check_webhook(config, source)
        monitor = self._open(config, save=True)  # models load before anything is stored
        with self._lock:
            self._monitors[name] = monitor
        return monitor

    def check_webhook(self, config: MonitorConfig, source: str) -> None:
        """ConfigError when the webhook's host is not allowed or a header names an unknown secret."""
        problems = self.policy.webhook_problems(config.webhook) if config.webhook is not None else []
        if problems:
            listed = "\n".join(f"  - {p}" for p in problems)
            error = ConfigError(f"{source}: {len(problems)} problem(s) in the monitor config:\n{listed}",
                                hint="the server's webhook_hosts and webhook_secrets_file settings say what is allowed")
            error.details = {"file": source, "problems": problems}
            raise error

    def get(self, name: str) -> Monitor:
        with self._lock:
            monitor = self._monitors.get(name)
        if monitor is not None:
            return monitor
        monitor = self._open(self.config(name), save=False)
        with self._lock:
            return self._monitors.setdefault(name, monitor)

    def _open(self, config: MonitorConfig, *, save: bool) -> Monitor:
        return Monitor.open(config, self.registry, self._classifier, save=save, model_roots=self.policy.model_roots,
                            max_clock_skew_s=self.policy.max_clock_skew_s, loader=self.loader,
                            redactor=self._redactor(config.name))

    def _redactor(self, name: str) -> Redactor | None:
        return self.redactors.for_target("monitor", name) if self.redactors is not None else None

    def config(self, name: str) -> MonitorConfig:
        return parse_monitor_config(self.store.get_config(name), source=f"monitor {name!r} in the registry")

    def forget_all(self) -> None:
        """Drop the loaded monitors (a config changed through another process): each reopens on its next use."""
        with self._lock:
            self._monitors.clear()

    def webhook(self, name: str) -> WebhookConfig | None:
        with self._lock:
            monitor = self._monitors.get(name)
        if monitor is not None:
            return monitor.config.webhook
        try:
            return self.config(name).webhook
        except Exception:  # noqa: BLE001 - a monitor removed or broken since: its alerts wait
            return None

    def deliver(self, wait_s: float | None = DELIVERY_WAIT_S) -> DeliveryReport:
        """One delivery pass; `wait_s=None` waits for every destination (the CLI)."""
        return self.outbox.run(wait_s=wait_s)

    def close(self) -> None:
        self.outbox.close()
