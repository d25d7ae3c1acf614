"""The monitors one process serves, by name: defined in the registry database, loaded on first use, delivered."""

from __future__ import annotations

import threading
from typing import Any

from tunelab.apps.monitor.classify import Classifier
from tunelab.apps.monitor.config import MonitorConfig, WebhookConfig, parse_monitor_config
from tunelab.apps.monitor.monitor import Monitor
from tunelab.apps.monitor.outbox import DeliveryReport, Sender, deliver_due, post_json
from tunelab.apps.monitor.store import MonitorStore
from tunelab.errors import UsageError
from tunelab.inference.loader import ModelLoader


class MonitorHub:
    """`hub.get(name)` -> a loaded Monitor; `hub.define(name, raw)` validates, loads and stores a config."""

    def __init__(self, registry: Any, *, sender: Sender = post_json, classifier: Classifier | None = None,
                 loader: ModelLoader | None = None) -> None:
        self.registry = registry
        self.loader = loader  # the server's model cache: one LRU and one backend choice for every model
        self.store = MonitorStore(registry.engine)
        self.sender = sender
        self._classifier = classifier  # tests: a fixed classifier instead of the configured models
        self._monitors: dict[str, Monitor] = {}
        self._lock = threading.Lock()

    def define(self, name: str, raw: dict[str, Any], *, source: str = "request body") -> Monitor:
        config = parse_monitor_config({**raw, "name": raw.get("name", name)}, source=source)
        if config.name != name:
            raise UsageError(f"the config names monitor {config.name!r}, the URL {name!r}")
        # models load before anything is stored
        monitor = Monitor.open(config, self.registry, self._classifier, loader=self.loader)
        with self._lock:
            self._monitors[name] = monitor
        return monitor

    def get(self, name: str) -> Monitor:
        with self._lock:
            monitor = self._monitors.get(name)
        if monitor is not None:
            return monitor
        config = self.config(name)
        monitor = Monitor.open(config, self.registry, self._classifier, save=False, loader=self.loader)
        with self._lock:
            return self._monitors.setdefault(name, monitor)

    def config(self, name: str) -> MonitorConfig:
        return parse_monitor_config(self.store.get_config(name), source=f"monitor {name!r} in the registry")

    def webhook(self, name: str) -> WebhookConfig | None:
        with self._lock:
            monitor = self._monitors.get(name)
        if monitor is not None:
            return monitor.config.webhook
        try:
            return self.config(name).webhook
        except Exception:  # noqa: BLE001 - a monitor removed or broken since: its alerts wait
            return None

    def deliver(self) -> DeliveryReport:
        return deliver_due(self.store, self.webhook, self.sender)
