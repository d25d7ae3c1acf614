"""Monitor config and alert rules from YAML: typed, validated, every problem named by file and field at once.

Read with the shared configuration reader's parts (`tunelab.fields`): one problem collector raising one
ConfigError with `problems`, unknown keys with the closest known one, the YAML reader; the rules of the
format (durations, names, bounds, defaults that depend on other keys) are checked here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab.apps.monitor.events import normalise_ticker
from tunelab.errors import ConfigError, UsageError
from tunelab.fields import Problems, check_keys, read_yaml
from tunelab.registry.names import check_name

SCOPES = ("all", "ticker", "entity", "topic")
THRESHOLD_METRICS = ("negative_share", "mean_score", "volume", "negative")
SPIKE_METRICS = ("volume", "negative")
NEGATIVE_NAMES = ("negative", "bearish", "neg")
POSITIVE_NAMES = ("positive", "bullish", "pos")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
SECRET_REF = re.compile(r"\$\{secret:([A-Za-z0-9_.-]{1,64})\}")  # a header value's reference to a named secret
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-type"}
MAX_WEBHOOK_TIMEOUT_S = 30.0  # one slow receiver must not hold a delivery worker for long
MAX_BACKOFF_S = 86400.0


@dataclass(frozen=True)
class ModelSpec:
    """A model to load: a run folder, or a registered model (`name`, `name@3`, `name@production`)."""

    model: str
    negative_labels: tuple[str, ...] = ()  # sentiment only; empty: found by name (negative, bearish, ...)
    positive_labels: tuple[str, ...] = ()
    types: tuple[str, ...] = ()  # NER only: entity types to keep (empty: all)


@dataclass(frozen=True)
class Rule:
    """One alert rule. threshold: `metric` above/below a value over `window` (with `min_volume` items);
    spike: z-score of a count in the current window against the `baseline_windows` windows before it."""

    name: str
    type: str  # threshold | spike
    scope: str  # all | ticker | entity | topic
    metric: str
    window_s: float
    cooldown_s: float
    min_volume: int = 1
    keys: tuple[str, ...] = ()  # empty: every key of the scope
    above: float | None = None
    below: float | None = None
    z: float = 3.0
    baseline_windows: int = 24
    min_baseline_windows: int = 3

    @property
    def lookback_s(self) -> float:
        return self.window_s * (self.baseline_windows + 1) if self.type == "spike" else self.window_s


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    headers: dict[str, str] = field(default_factory=dict)  # values may name operator secrets: ${secret:TOKEN}
    timeout_s: float = 5.0  # the whole attempt (connect, send, answer); at most MAX_WEBHOOK_TIMEOUT_S
    backoff_s: float = 2.0  # first retry after this; doubled per failed attempt
    max_backoff_s: float = 3600.0  # retried for ever at most this far apart (<= a day): an alert is never dropped


@dataclass(frozen=True)
class MonitorConfig:
    name: str
    sentiment: ModelSpec
    rules: tuple[Rule, ...]
    window_s: float = 3600.0  # aggregate window
    topics: ModelSpec | None = None
    entities: ModelSpec | None = None
    webhook: WebhookConfig | None = None
    base_dir: str = "."  # relative model folders are resolved from here (the config file's folder)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def lookback_s(self) -> float:
        return max([self.window_s, *(r.lookback_s for r in self.rules)])


class _Problems(Problems):
    """The shared problem collector (`tunelab.fields`), raising as the monitor config's ConfigError."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def raise_any(self, source: str | None = None, *, what: str = "monitor config",
                  hint: str | None = "see docs/monitor.md for the format") -> None:
        super().raise_any(source or self.source, what=what, hint=hint)


def parse_duration(value: Any) -> float:
    """`90`, `"90s"`, `"15m"`, `"1h"`, `"2d"`, `"1w"` -> seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError("a duration, e.g. 15m, 1h or 3600")
    if isinstance(value, int | float):
        seconds = float(value) if abs(value) < 1e300 else math.inf
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 15m, 1h, 2d or seconds)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds) or seconds <= 0 or seconds > 366 * 86400:
        raise ValueError(f"{repr(value)[:40]}: a duration must be positive and at most a year")
    return seconds


def load_monitor_config(path: str | Path) -> MonitorConfig:
    """Read and validate a monitor YAML file on the operator's machine (the CLI): its `rules` may be a list or the
    path of a rules file, relative to it. Only regular files of bounded size are read."""
    path = Path(path)
    raw = _read_yaml(path)
    base_dir = path.resolve().parent
    rules_source = None
    if isinstance(raw, dict) and isinstance(raw.get("rules"), str):  # a separate rules file, relative to this one
        rules_path = base_dir / raw["rules"]
        rules_source = str(rules_path)
        try:
            loaded = _read_yaml(rules_path)
        except ConfigError as exc:
            raise ConfigError(f"{path}: rules: {exc.message}", hint=exc.hint) from None
        raw = {**raw, "rules": loaded.get("rules") if isinstance(loaded, dict) else loaded}
    return parse_monitor_config(raw, source=str(path), base_dir=base_dir, rules_source=rules_source)


def parse_monitor_config(raw: Any, *, source: str = "config", base_dir: str | Path = ".",
                         rules_source: str | None = None) -> MonitorConfig:
    """Validate a config mapping; nothing is read from disk (a config over the API is self-contained).
    `rules_source`: the rules file its rules were read from (their problems name that file)."""
    problems = _Problems(source)
    if not isinstance(raw, dict):
        problems.add("(top level)", "must be a mapping with name, sentiment, rules")
        problems.raise_any()
    known = {"name", "sentiment", "topics", "entities", "window", "webhook", "rules"}
    check_keys(raw, known, "", problems)
    name = _name(raw.get("name"), problems)
    window = _duration(raw, "window", 3600.0, problems, "window")
    sentiment = _model_spec(raw.get("sentiment"), "sentiment", problems, required=True)
    topics = _model_spec(raw.get("topics"), "topics", problems)
    entities = _model_spec(raw.get("entities"), "entities", problems)
    webhook = _webhook(raw.get("webhook"), problems)
    rules_raw = raw.get("rules")
    rules_problems = _Problems(rules_source) if rules_source else problems
    rules = _rules(rules_raw, window, rules_problems)
    problems.raise_any()
    if rules_problems is not problems:
        rules_problems.raise_any()
    assert sentiment is not None
    return MonitorConfig(name, sentiment, rules, window, topics, entities, webhook, str(base_dir),
                         _self_contained(raw, rules_raw, Path(base_dir)))


def _self_contained(raw: dict[str, Any], rules: Any, base_dir: Path) -> dict[str, Any]:
    """The config as stored in the database: rules inline, relative run folders made absolute."""
    out = {**raw, "rules": rules}
    for section in ("sentiment", "topics", "entities"):
        spec = out.get(section)
        model = spec if isinstance(spec, str) else spec.get("model") if isinstance(spec, dict) else None
        if isinstance(model, str) and not Path(model).is_absolute() and (base_dir / model).is_dir():
            absolute = str((base_dir / model).resolve())
            out[section] = absolute if isinstance(spec, str) else {**spec, "model": absolute}
    return out


def _read_yaml(path: Path) -> Any:
    return read_yaml(path)


def _name(value: Any, problems: _Problems) -> str:
    if value is None:
        problems.add("name", "missing: give the monitor a name (lower-case letters, digits, '.', '_', '-')")
        return ""
    try:
        return check_name(value, "monitor name")
    except UsageError as exc:
        problems.add("name", f"{exc.message} ({exc.hint})")
    return ""


def _duration(raw: dict, key: str, default: float, problems: _Problems, where: str) -> float:
    if raw.get(key) is None:
        return default
    try:
        return parse_duration(raw[key])
    except ValueError as exc:
        problems.add(where, str(exc))
        return default


def _number(raw: dict, key: str, default: Any, problems: _Problems, where: str, *, integer: bool = False,
            low: float = -math.inf, high: float = math.inf) -> Any:
    value = raw.get(key, default)
    if value is None:
        return None
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type or not abs(value) < 1e300 or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        bounds = f" between {low:g} and {high:g}" if math.isfinite(low) and math.isfinite(high) else ""
        problems.add(where, f"must be {kind}{bounds}, got {repr(value)[:40]}")
        return default
    return value


def _strings(value: Any, where: str, problems: _Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        problems.add(where, "must be a list of strings")
        return ()
    return tuple(str(v) for v in value)


def _model_spec(value: Any, where: str, problems: _Problems, *, required: bool = False) -> ModelSpec | None:
    if value is None:
        if required:
            problems.add(where, "missing: `sentiment: {model: NAME@ALIAS or a run folder}`")
        return None
    if isinstance(value, str):
        value = {"model": value}
    if not isinstance(value, dict):
        problems.add(where, "must be a mapping with `model`")
        return None
    known = {"model", "negative_labels", "positive_labels", "types"}
    check_keys(value, known, where, problems)
    model = value.get("model")
    if not isinstance(model, str) or not model.strip():
        problems.add(f"{where}.model", "missing: a registered model (name@alias) or a run folder")
        model = ""
    return ModelSpec(model, _strings(value.get("negative_labels"), f"{where}.negative_labels", problems),
                     _strings(value.get("positive_labels"), f"{where}.positive_labels", problems),
                     _strings(value.get("types"), f"{where}.types", problems))


def _webhook(value: Any, problems: _Problems) -> WebhookConfig | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"url": value}
    if not isinstance(value, dict):
        problems.add("webhook", "must be a URL or a mapping with `url`")
        return None
    known = {"url", "headers", "timeout", "backoff", "max_backoff"}
    check_keys(value, known, "webhook", problems)
    url = _webhook_url(value.get("url"), problems)
    headers = _headers(value.get("headers"), problems)
    return WebhookConfig(url, headers, _capped(value, "timeout", 5.0, MAX_WEBHOOK_TIMEOUT_S, problems),
                         _capped(value, "backoff", 2.0, 3600.0, problems),
                         _capped(value, "max_backoff", 3600.0, MAX_BACKOFF_S, problems))


def _webhook_url(url: Any, problems: _Problems) -> str:
    if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url) or any(c in url for c in "\x00\r\n\t "):
        problems.add("webhook.url", "must be an http:// or https:// URL")
        return ""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        problems.add("webhook.url", "not a valid URL (bad host or port)")
        return ""
    if "@" in parts.netloc:  # never echo it: the userinfo is a password
        problems.add("webhook.url", "must not hold credentials (user:password@): put the password in the server's "
                                    "webhook secrets file and send it in a header, e.g. "
                                    "`Authorization: Basic ${secret:NAME}`")
        return ""
    return url


def _headers(headers: Any, problems: _Problems) -> dict[str, str]:
    """Header names and one-line values; `${secret:NAME}` is the only placeholder (never the environment)."""
    headers = headers or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        problems.add("webhook.headers", "must map header names to strings")
        return {}
    for name, value in headers.items():
        where = f"webhook.headers.{name[:64]}"
        if not _HEADER_NAME.match(name) or name.lower() in _RESERVED_HEADERS:
            problems.add(where, "not an allowed header name")
        elif any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in value) or len(value) > 8192:
            problems.add(where, "must be one line of at most 8192 characters")
        elif "${" in SECRET_REF.sub("", value):
            problems.add(where, "only ${secret:NAME} placeholders are expanded (never environment variables): the "
                                "operator puts the value in the server's webhook_secrets_file")
    return dict(headers)


def _capped(raw: dict, key: str, default: float, cap: float, problems: _Problems) -> float:
    value = _duration(raw, key, default, problems, f"webhook.{key}")
    if value > cap:
        problems.add(f"webhook.{key}", f"at most {cap:g} s")
        return default
    return value


RULE_KEYS = {"name", "type", "scope", "keys", "metric", "above", "below", "window", "cooldown", "min_volume",
             "z", "baseline_windows", "min_baseline_windows"}


def _rules(value: Any, window: float, problems: _Problems) -> tuple[Rule, ...]:
    if value is None:
        problems.add("rules", "missing: a list of alert rules (or, in a config file, the path of a rules file)")
        return ()
    if not isinstance(value, list):
        problems.add("rules", "must be a list of rules (a rules file path is read only by the CLI from a config "
                              "file, never over the API)")
        return ()
    rules, names = [], set()
    for i, item in enumerate(value):
        rule = _rule(item, f"rules[{i}]", window, problems)
        if rule is None:
            continue
        if rule.name in names:
            problems.add(f"rules[{i}].name", f"{rule.name!r} is used by an earlier rule")
        names.add(rule.name)
        rules.append(rule)
    return tuple(rules)


def _rule(item: Any, where: str, window: float, problems: _Problems) -> Rule | None:
    if not isinstance(item, dict):
        problems.add(where, "must be a mapping")
        return None
    before = len(problems.items)
    check_keys(item, RULE_KEYS, where, problems)
    name = item.get("name")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", name):
        problems.add(f"{where}.name", "missing or invalid: 1-64 letters, digits, '.', '_' or '-'")
    kind = item.get("type")
    if kind not in ("threshold", "spike"):
        problems.add(f"{where}.type", f"must be threshold or spike, got {kind!r}")
    scope = item.get("scope", "ticker")
    if scope not in SCOPES:
        problems.add(f"{where}.scope", f"must be one of {', '.join(SCOPES)}, got {scope!r}")
    metrics = SPIKE_METRICS if kind == "spike" else THRESHOLD_METRICS
    metric = item.get("metric", "negative" if kind == "spike" else "negative_share")
    if metric not in metrics:
        problems.add(f"{where}.metric", f"must be one of {', '.join(metrics)} for a {kind} rule, got {metric!r}")
    above = _number(item, "above", None, problems, f"{where}.above")
    below = _number(item, "below", None, problems, f"{where}.below")
    if kind == "threshold" and (item.get("above") is None) == (item.get("below") is None):
        problems.add(f"{where}.above", "a threshold rule needs exactly one of `above` or `below`")
    rule_window = _duration(item, "window", window, problems, f"{where}.window")
    rule = Rule(
        name=str(name), type=str(kind), scope=str(scope), metric=str(metric), window_s=rule_window,
        cooldown_s=_duration(item, "cooldown", rule_window, problems, f"{where}.cooldown"),
        min_volume=_number(item, "min_volume", 1, problems, f"{where}.min_volume", integer=True, low=1, high=10**9),
        keys=tuple(normalise_ticker(k) if scope == "ticker" else k
                   for k in _strings(item.get("keys"), f"{where}.keys", problems)),
        above=above, below=below, z=_number(item, "z", 3.0, problems, f"{where}.z", low=0.1, high=1000),
        baseline_windows=_number(item, "baseline_windows", 24, problems, f"{where}.baseline_windows",
                                 integer=True, low=1, high=10_000),
        min_baseline_windows=_number(item, "min_baseline_windows", 3, problems, f"{where}.min_baseline_windows",
                                     integer=True, low=1, high=10_000))
    return rule if len(problems.items) == before else None
