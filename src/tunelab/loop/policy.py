"""A model's retraining policy (`loop.yaml`): source data, trigger, golden test set and promotion rules.

    model: intents
    golden: golden.csv            # frozen test set: never trained on (relative to this file)
    warm_start: false             # true: start from the champion's weights, not its base model
    source:
      train: null                 # base training file; default: the champion run's own
      dev: null                   # challenger's dev file; default: carved from the merged training set
      corrections_since_version: 1
    trigger:
      every_corrections: 50       # `loop run` is due after this many new corrections (null: by hand only)
      schedule: null              # hourly | daily | weekly, for a scheduler that calls `loop run --if-due`
      on_drift: false             # also due after a drift alert on the champion (`loop drift --alert`)
    promotion:
      alias: production
      significance: 0.05          # the paired test's p must be below this (McNemar mid-p; NER: bootstrap)
      max_class_drop: 2.0         # no class's F1 on the golden set may drop by more points than this
      min_golden_size: 30
      stage: none                 # none | shadow | canary: what a challenger that passed the golden set goes through
      stage_requests: 200         # live predictions the stage waits for (shadow: scored; canary: answered)
      stage_hours: null           # also end the stage after this many hours (null: only by requests)
      canary_share: 0.1           # canary: share of callers the challenger answers (the A/B split)
      shadow_share: 1.0           # shadow: share of live requests the challenger also scores (sampled by id)
      min_agreement: 0.0          # shadow: refuse below this agreement with the champion's live answers
      max_feedback_drop: 5.0      # refuse when the challenger's feedback accuracy in the stage is lower by more points

A file may also hold several models' policies under `models: {NAME: {...}}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab.errors import ConfigError
from tunelab.fields import Problems, read_dataclass, read_yaml_mapping

SCHEDULES = ("hourly", "daily", "weekly")
TESTS = ("auto", "mcnemar-midp", "mcnemar-exact", "bootstrap")
STAGES = ("none", "shadow", "canary")


@dataclass(frozen=True)
class SourcePolicy:
    """What the challenger trains on."""

    train: str | None = None
    """Base training file (same columns as the champion's); default: the champion run's training file."""
    dev: str | None = None
    """Dev file for the challenger's early stopping; default: carved from the merged training set (the
    champion's own dev file may hold labels the corrections overturned)."""
    corrections_since_version: int = 1
    """Use corrected labels given on predictions of this model version or later."""


@dataclass(frozen=True)
class TriggerPolicy:
    """When a retrain is due."""

    every_corrections: int | None = None
    """Due after this many new corrections since the last decision; null: only by hand."""
    schedule: str | None = None
    """hourly, daily or weekly: also due when the last decision is older (null: no schedule)."""
    on_drift: bool = False
    """Also due when a drift alert (`tunelab loop drift --alert`) on the champion's version was raised after the
    last decision."""


@dataclass(frozen=True)
class PromotionPolicy:
    """When a challenger replaces the champion."""

    alias: str = "production"
    """The alias that names the champion; a promotion moves it."""
    significance: float = 0.05
    """The paired test's p-value must be below this (and the challenger right more often)."""
    test: str = "auto"
    """auto (mcnemar-midp for text classifiers, bootstrap for NER), mcnemar-midp, mcnemar-exact or bootstrap
    (paired bootstrap of micro-F1)."""
    bootstrap_samples: int = 2000
    """Resamples of the paired bootstrap."""
    max_class_drop: float = 2.0
    """Largest drop of any class's F1 on the golden set, in points (0-100)."""
    min_golden_size: int = 30
    """Refuse to decide on a golden set smaller than this."""
    stage: str = "none"
    """none: promote at once; shadow: the server also runs the challenger on live requests (it never answers) and
    the next `loop run` after `stage_requests` decides on its agreement; canary: the challenger answers
    `canary_share` of the callers through the A/B split and the next `loop run` after `stage_requests` decides on
    the feedback."""
    stage_requests: int = 200
    """Live predictions the stage waits for: scored in shadow, answered by the challenger in a canary."""
    stage_hours: float | None = None
    """Also end the stage when this many hours have passed (deciding on what was seen); null: only by requests."""
    canary_share: float = 0.1
    """Canary: the share (0-1, exclusive) of callers the challenger answers; sticky per caller, as the A/B split."""
    shadow_share: float = 1.0
    """Shadow: the share (0-1] of the champion's live predictions the challenger also scores, chosen by a hash of
    each prediction's id (the same id is always in or out), to bound the shadow's CPU on a busy server."""
    min_agreement: float = 0.0
    """Shadow: refuse when the challenger agrees with the champion's live answers less often than this (0-1)."""
    max_feedback_drop: float = 5.0
    """Refuse when, on the stage's predictions with feedback, the challenger's accuracy is lower than the
    champion's by more than this many points (0-100); no feedback: not decisive."""


@dataclass(frozen=True)
class LoopPolicy:
    """One model's retraining policy."""

    model: str
    """The registered model it retrains."""
    golden: str
    """Frozen golden test set (same columns as the training file); never trained on."""
    source: SourcePolicy = field(default_factory=SourcePolicy)
    trigger: TriggerPolicy = field(default_factory=TriggerPolicy)
    promotion: PromotionPolicy = field(default_factory=PromotionPolicy)
    warm_start: bool = False
    """Start the challenger from the champion's weights instead of its base model (same config otherwise)."""
    recent_corrections: int = 200
    """How many of the newest corrections both models are also scored on (reported, not decisive)."""
    shadow_texts: int = 500
    """Shadow check: the challenger re-scores this many of the champion's newest logged texts and the agreement
    with the champion's answers is reported (not decisive; 0: off)."""
    runs_dir: str | None = None
    """Where loop runs go; default: TuneLab's home folder, loop/MODEL."""


def check_policy(policy: LoopPolicy, problems: Problems, prefix: str = "") -> None:
    """Add a problem for every value that types alone cannot rule out, named by its dotted key."""
    s, t, p = policy.source, policy.trigger, policy.promotion
    checks: list[tuple[bool, str, str]] = [
        (bool(policy.golden.strip()), "golden", "must name the golden test set file"),
        (s.corrections_since_version >= 1, "source.corrections_since_version", "must be >= 1"),
        (t.every_corrections is None or t.every_corrections >= 1, "trigger.every_corrections", "must be >= 1"),
        (t.schedule is None or t.schedule in SCHEDULES, "trigger.schedule",
         f"must be one of {', '.join(SCHEDULES)} or null, got {t.schedule!r}"),
        (0 < p.significance < 0.5, "promotion.significance", "must be in (0, 0.5)"),
        (p.test in TESTS, "promotion.test", f"must be one of {', '.join(TESTS)}, got {p.test!r}"),
        (0 <= p.max_class_drop <= 100, "promotion.max_class_drop", "must be in [0, 100] (points)"),
        (p.min_golden_size >= 1, "promotion.min_golden_size", "must be >= 1"),
        (100 <= p.bootstrap_samples <= 100_000, "promotion.bootstrap_samples", "must be in [100, 100000]"),
        (p.stage in STAGES, "promotion.stage", f"must be one of {', '.join(STAGES)}, got {p.stage!r}"),
        (1 <= p.stage_requests <= 10_000_000, "promotion.stage_requests", "must be in [1, 10000000]"),
        (p.stage_hours is None or p.stage_hours > 0, "promotion.stage_hours", "must be > 0 or null"),
        (0 < p.canary_share < 1, "promotion.canary_share", "must be in (0, 1)"),
        (0 < p.shadow_share <= 1, "promotion.shadow_share", "must be in (0, 1]"),
        (0 <= p.min_agreement <= 1, "promotion.min_agreement", "must be in [0, 1]"),
        (0 <= p.max_feedback_drop <= 100, "promotion.max_feedback_drop", "must be in [0, 100] (points)"),
        (policy.recent_corrections >= 0, "recent_corrections", "must be >= 0"),
        (0 <= policy.shadow_texts <= 100_000, "shadow_texts", "must be in [0, 100000]"),
    ]
    for ok, path, message in checks:
        if not ok and not problems.has(prefix + path):
            problems.add(prefix + path, message)


def parse_policy(raw: Any, model: str | None = None, source: str | None = None,
                 base: Path | None = None) -> LoopPolicy:
    """A policy from parsed YAML (one policy, or `models: {NAME: policy}` with `model` choosing one); file paths
    in it are resolved against `base`. One ConfigError lists every problem by its dotted key."""
    prefix = ""
    if isinstance(raw, dict) and "models" in raw:
        models = raw["models"]
        if not isinstance(models, dict) or model not in models:
            known = ", ".join(map(str, models)) if isinstance(models, dict) else "none"
            raise ConfigError(f"{source or 'policy'}: models.{model}: no policy for model {model!r} (known: {known})")
        prefix = f"models.{model}."
        raw = {"model": model, **(models[model] or {})}
    found = Problems()
    policy = read_dataclass(LoopPolicy, raw, found, prefix.rstrip("."))
    if policy is not None:
        check_policy(policy, found, prefix)
        if model is not None and policy.model != model:
            found.add(prefix + "model", f"the policy is for {policy.model!r}, not {model!r}")
    found.raise_any(source, what="loop policy")
    assert policy is not None
    return _resolved(policy, base) if base is not None else policy


def load_policy(path: str | Path, model: str | None = None) -> LoopPolicy:
    """Read and validate a policy file (see the module docstring)."""
    raw = read_yaml_mapping(path)
    return parse_policy(raw, model, str(path), Path(path).resolve().parent)


def _resolved(policy: LoopPolicy, base: Path) -> LoopPolicy:
    from dataclasses import replace

    def resolve(value: str | None) -> str | None:
        return None if value is None else str((base / value).resolve()) if not Path(value).is_absolute() else value

    return replace(policy, golden=str(resolve(policy.golden)), runs_dir=resolve(policy.runs_dir),
                   source=replace(policy.source, train=resolve(policy.source.train), dev=resolve(policy.source.dev)))
