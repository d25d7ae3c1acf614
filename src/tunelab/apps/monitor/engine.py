"""Rule evaluation on event time: sliding windows per (kind, key), threshold and spike rules, incidents and cool-down.

The clock is the newest event timestamp seen (never the wall clock), so a replay of history raises exactly the
alerts the live monitor would have raised. An incident opens when a rule's condition becomes true for a key and
closes when it is false again; only the opening raises an alert, and not within `cooldown` of the previous one.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tunelab.apps.monitor.config import Rule

Key = tuple[str, str]  # (kind, key): ("ticker", "TSLA"), ("all", "*")


@dataclass(frozen=True)
class Observation:
    """One classified item as the rules see it."""

    at: float  # epoch seconds, from the event
    negative: bool
    positive: bool
    score: float
    keys: tuple[Key, ...]


@dataclass(frozen=True)
class AlertDraft:
    rule: str
    kind: str
    key: str
    at: float
    window_start: float
    value: float
    details: dict[str, Any]
    message: str


@dataclass
class _Series:
    """The observations of one key inside the lookback, sorted by time."""

    times: list[float] = field(default_factory=list)
    negative: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def add(self, obs: Observation) -> None:
        i = bisect.bisect_right(self.times, obs.at)  # late events land in their place
        self.times.insert(i, obs.at)
        self.negative.insert(i, int(obs.negative))
        self.scores.insert(i, obs.score)

    def prune(self, before: float) -> None:
        cut = bisect.bisect_left(self.times, before)
        if cut > 256 or (cut and cut * 2 > len(self.times)):
            del self.times[:cut], self.negative[:cut], self.scores[:cut]

    def window(self, start: float, end: float) -> tuple[int, int, float]:
        """(volume, negatives, score sum) over (start, end]."""
        lo, hi = bisect.bisect_right(self.times, start), bisect.bisect_right(self.times, end)
        return hi - lo, sum(self.negative[lo:hi]), sum(self.scores[lo:hi])


@dataclass
class _Incident:
    open: bool = False
    last_alert: float | None = None


class RuleEngine:
    """Feed observations in (roughly) time order with `observe`; it returns the alerts they raise."""

    def __init__(self, rules: Iterable[Rule], lookback_s: float) -> None:
        self.rules = tuple(rules)
        self.lookback_s = lookback_s
        self.clock: float | None = None  # newest event time seen
        self.started: float | None = None  # oldest event time seen (spike baselines need history)
        self._series: dict[Key, _Series] = {}
        self._incidents: dict[tuple[str, Key], _Incident] = {}

    def observe(self, obs: Observation, *, emit: bool = True) -> list[AlertDraft]:
        """Add one observation and evaluate the rules for its keys; `emit=False` (warm-up after a restart)
        updates incident state but raises nothing."""
        self.clock = obs.at if self.clock is None else max(self.clock, obs.at)
        self.started = obs.at if self.started is None else min(self.started, obs.at)
        alerts = []
        for key in obs.keys:
            series = self._series.setdefault(key, _Series())
            series.add(obs)
            series.prune(self.clock - self.lookback_s)
            for rule in self.rules:
                if _applies(rule, key):
                    alert = self._evaluate(rule, key, series, emit)
                    if alert is not None:
                        alerts.append(alert)
        return alerts

    def remember_alert(self, rule: str, key: Key, at: float) -> None:
        """Restore the cool-down from an alert stored before a restart."""
        incident = self._incidents.setdefault((rule, key), _Incident())
        incident.last_alert = at if incident.last_alert is None else max(incident.last_alert, at)

    def _evaluate(self, rule: Rule, key: Key, series: _Series, emit: bool) -> AlertDraft | None:
        assert self.clock is not None
        now = self.clock
        fired, value, details = (_spike if rule.type == "spike" else _threshold)(rule, series, now, self.started)
        incident = self._incidents.setdefault((rule.name, key), _Incident())
        if not fired:
            incident.open = False
            return None
        was_open, incident.open = incident.open, True
        cooling = incident.last_alert is not None and now - incident.last_alert < rule.cooldown_s
        if was_open or cooling or not emit:
            return None
        incident.last_alert = now
        return AlertDraft(rule.name, key[0], key[1], now, now - rule.window_s, value, details,
                          _message(rule, key, value, details))


def _applies(rule: Rule, key: Key) -> bool:
    return key[0] == rule.scope and (not rule.keys or key[1] in rule.keys)


def _threshold(rule: Rule, series: _Series, now: float, _started: float | None) -> tuple[bool, float, dict]:
    volume, negative, score_sum = series.window(now - rule.window_s, now)
    if volume == 0:
        return False, 0.0, {}
    value = {"negative_share": negative / volume, "mean_score": score_sum / volume, "volume": float(volume),
             "negative": float(negative)}[rule.metric]
    crossed = value > rule.above if rule.above is not None else value < (rule.below or 0.0)
    details = {"volume": volume, "negative": negative, "negative_share": round(negative / volume, 4),
               "mean_score": round(score_sum / volume, 4), "window_s": rule.window_s}
    return volume >= rule.min_volume and crossed, value, details


def _spike(rule: Rule, series: _Series, now: float, started: float | None) -> tuple[bool, float, dict]:
    w = rule.window_s
    volume, negative, _ = series.window(now - w, now)
    current = float(negative if rule.metric == "negative" else volume)
    baseline = []
    for i in range(1, rule.baseline_windows + 1):
        end = now - i * w
        if started is None or end - w < started - 1e-9:  # no history that far back
            break
        v, n, _ = series.window(end - w, end)
        baseline.append(float(n if rule.metric == "negative" else v))
    if len(baseline) < rule.min_baseline_windows or volume < rule.min_volume:
        return False, 0.0, {}
    mean = sum(baseline) / len(baseline)
    std = math.sqrt(sum((b - mean) ** 2 for b in baseline) / len(baseline))
    sigma = max(std, math.sqrt(mean), 1.0)  # floor: a quiet baseline (all zeros) must not make every item a spike
    z = (current - mean) / sigma
    details = {"current": current, "baseline_mean": round(mean, 4), "baseline_std": round(std, 4),
               "baseline_windows": len(baseline), "z": round(z, 3), "volume": volume, "negative": negative,
               "window_s": w}
    return z >= rule.z, z, details


def _message(rule: Rule, key: Key, value: float, details: dict) -> str:
    who = "the whole stream" if key[0] == "all" else f"{key[0]} {'$' if key[0] == 'ticker' else ''}{key[1]}"
    if rule.type == "spike":
        return (f"{rule.name}: {rule.metric} spike for {who}: {details['current']:.0f} in the last window against "
                f"a baseline of {details['baseline_mean']:.2f} (z = {value:.1f})")
    bound = f"above {rule.above}" if rule.above is not None else f"below {rule.below}"
    return (f"{rule.name}: {rule.metric} {value:.3f} {bound} for {who} over {details['volume']} items "
            f"({details['negative']} negative)")
