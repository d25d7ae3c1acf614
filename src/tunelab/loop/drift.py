"""Input, confidence and label drift of a served model: a window of recent texts against a sample of its training data.

Five checks, each a two-sample test with a p-value and, where a tiny but significant difference would not matter,
a minimum effect size; a check drifts when p < alpha and the effect reaches its minimum:

    embedding_mmd     RBF-kernel MMD^2 between sentence embeddings (median bandwidth), permutation p-value
    text_length       KS on tokens per text
    unknown_tokens    rise of the unknown-token rate (one-sided two-proportion z-test)
    confidence        KS on the top class probability
    predicted_labels  chi-square on predicted-label counts; effect: population stability index

The reference (a seeded sample of the run's held-out dev and test texts, or of its training texts when fewer than
`MIN_HELD_OUT` were held out; read once) is cached in the run folder as `drift_reference.npz` (arrays, read without
pickle) and `drift_reference.json` (what it was built from). Held-out texts first because a fine-tuned encoder
places the texts it trained on nearer their class than any new text: against training texts, the MMD check flagged
fresh texts of the very same distribution (p = 0.005 on a stable stream in tests/loop/test_drift.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.artifacts.files import read_json, write_bytes_atomic, write_json_atomic
from tunelab.errors import ArtifactError, UsageError
from tunelab.loop import twosample
from tunelab.loop.embeddings import TextFeatures, require_single_label, text_features

REFERENCE_ARRAYS = "drift_reference.npz"
REFERENCE_META = "drift_reference.json"
REFERENCE_SIZE = 500
REFERENCE_VERSION = 2  # 2: held-out texts first (1: training texts only; rebuilt when read)
MIN_HELD_OUT = 100


@dataclass(frozen=True)
class DriftThresholds:
    """When a check counts as drift. Every check needs p < alpha; most also a minimum effect."""

    alpha: float = 0.01
    min_window: int = 30  # fewer texts than this: no verdict
    length_ks: float = 0.1  # KS distance on tokens per text
    unknown_increase: float = 0.01  # absolute rise of the unknown-token rate
    confidence_ks: float = 0.1  # KS distance on the top probability
    label_psi: float = 0.1  # population stability index of predicted labels
    permutations: int = 200  # MMD permutation test
    seed: int = 0


@dataclass(frozen=True)
class DriftCheck:
    name: str
    statistic: float
    p_value: float | None
    alpha: float
    effect: float  # the size the minimum applies to (KS distance, rate rise, PSI; MMD^2 for the MMD test)
    min_effect: float
    drifted: bool
    detail: str


@dataclass(frozen=True)
class DriftReport:
    model: str
    version: int | None
    window: int  # texts checked
    reference: int  # reference texts
    verdict: str  # "drift", "stable" or "insufficient data"
    checks: tuple[DriftCheck, ...]
    skipped: int = 0  # window rows without their text (hash-only logging)
    feedback_accuracy: float | None = None  # share of judged feedback on this version that said "correct"
    feedback_judged: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def drifted(self) -> tuple[DriftCheck, ...]:
        return tuple(c for c in self.checks if c.drifted)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Reference:
    """Per reference text: embedding, tokens, unknown tokens, top probability; predicted-label counts."""

    embeddings: np.ndarray
    tokens: np.ndarray
    unknown: np.ndarray
    top: np.ndarray
    label_counts: np.ndarray
    labels: tuple[str, ...]

    @classmethod
    def of(cls, features: TextFeatures, labels: Sequence[str]) -> Reference:
        counts = np.bincount(features.predicted, minlength=len(labels))
        return cls(features.embeddings, features.tokens, features.unknown, features.top, counts, tuple(labels))


# ---- the checks ------------------------------------------------------------------------------------------------


def compare(reference: Reference, window: TextFeatures, limits: DriftThresholds) -> tuple[DriftCheck, ...]:
    """The five checks of `window` against `reference`."""
    a = limits.alpha
    permutations = max(limits.permutations, int(2 / a))  # enough for a p-value below alpha to be possible
    mmd = twosample.mmd_test(reference.embeddings, window.embeddings, permutations=permutations, seed=limits.seed)
    length = twosample.ks_test(reference.tokens, window.tokens)
    unknown = twosample.rate_increase_test(int(reference.unknown.sum()), int(reference.tokens.sum()),
                                           int(window.unknown.sum()), int(window.tokens.sum()))
    confidence = twosample.ks_test(reference.top, window.top)
    window_counts = np.bincount(window.predicted, minlength=len(reference.labels))
    labels, psi = twosample.label_shift_test(reference.label_counts, window_counts)
    return (
        _check("embedding_mmd", mmd, a, mmd.statistic, 0.0,
               "MMD^2 between sentence embeddings (RBF kernel, median bandwidth)"),
        _check("text_length", length, a, length.statistic, limits.length_ks,
               f"median tokens per text {np.median(reference.tokens):g} -> {np.median(window.tokens):g}"),
        _check("unknown_tokens", unknown, a, unknown.statistic, limits.unknown_increase,
               f"unknown-token rate {_rate(reference):.4f} -> {_rate(window):.4f}"),
        _check("confidence", confidence, a, confidence.statistic, limits.confidence_ks,
               f"mean top probability {reference.top.mean():.3f} -> {window.top.mean():.3f}"),
        _check("predicted_labels", labels, a, psi, limits.label_psi,
               f"PSI {psi:.3f}; most predicted {_most(reference.label_counts, reference.labels)} -> "
               f"{_most(window_counts, reference.labels)}"),
    )


def _check(name: str, outcome: twosample.Outcome, alpha: float, effect: float, min_effect: float,
           detail: str) -> DriftCheck:
    drifted = outcome.p_value is not None and outcome.p_value < alpha and effect >= min_effect
    return DriftCheck(name, round(outcome.statistic, 6), None if outcome.p_value is None else round(outcome.p_value, 6),
                      alpha, round(effect, 6), min_effect, drifted, detail)


def _rate(sample: Reference | TextFeatures) -> float:
    return float(sample.unknown.sum() / max(int(sample.tokens.sum()), 1))


def _most(counts: np.ndarray, labels: Sequence[str]) -> str:
    if counts.sum() == 0:
        return "-"
    top = int(counts.argmax())
    return f"{labels[top]} ({counts[top] / counts.sum():.0%})"


def check_drift(predictor: Any, texts: Sequence[str], reference: Reference, *, model: str = "",
                version: int | None = None, limits: DriftThresholds | None = None, skipped: int = 0) -> DriftReport:
    """The drift report of `texts` (the recent window) against `reference` (see `run_reference`)."""
    limits = limits or DriftThresholds()
    if len(texts) < limits.min_window:
        return DriftReport(model, version, len(texts), len(reference.tokens), "insufficient data", (), skipped,
                           notes=(f"{len(texts)} texts in the window; at least {limits.min_window} are needed",))
    checks = compare(reference, text_features(predictor, texts), limits)
    verdict = "drift" if any(c.drifted for c in checks) else "stable"
    return DriftReport(model, version, len(texts), len(reference.tokens), verdict, checks, skipped)


# ---- the reference sample, cached in the run folder ------------------------------------------------------------


def build_reference(predictor: Any, texts: Sequence[str], *, size: int = REFERENCE_SIZE, seed: int = 0) -> Reference:
    """A seeded sample of at most `size` of `texts`, run through the model."""
    require_single_label(predictor)
    if not texts:
        raise UsageError("the drift reference needs at least one training text")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(texts), size=min(size, len(texts)), replace=False).tolist())
    return Reference.of(text_features(predictor, [texts[i] for i in chosen]), predictor.label_set.names)


def save_reference(folder: Path, reference: Reference, meta: dict[str, Any]) -> None:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, embeddings=reference.embeddings.astype(np.float16), tokens=reference.tokens,
                        unknown=reference.unknown, top=reference.top, label_counts=reference.label_counts)
    write_bytes_atomic(folder / REFERENCE_ARRAYS, buffer.getvalue())
    write_json_atomic(folder / REFERENCE_META, {"version": REFERENCE_VERSION, "labels": list(reference.labels),
                                                "size": int(len(reference.tokens)), **meta})


def load_reference(folder: Path) -> Reference:
    try:
        meta = read_json(folder / REFERENCE_META)
        with np.load(folder / REFERENCE_ARRAYS, allow_pickle=False) as arrays:
            return Reference(arrays["embeddings"].astype(np.float32), arrays["tokens"], arrays["unknown"],
                             arrays["top"], arrays["label_counts"], tuple(meta["labels"]))
    except (KeyError, TypeError, OSError, ValueError) as exc:
        raise ArtifactError(f"the drift reference in {folder} is missing or malformed: {exc}",
                            hint=f"delete {REFERENCE_ARRAYS} and {REFERENCE_META} there to rebuild it") from None


def run_reference(predictor: Any, *, size: int = REFERENCE_SIZE, seed: int = 0) -> Reference:
    """The run's reference: read from its folder, or built once (`reference_texts`) and cached there; a cached
    reference of an older version is rebuilt, or kept when the run's data can no longer be read."""
    run_dir = Path(predictor.run_dir)
    cached = (run_dir / REFERENCE_META).is_file() and (run_dir / REFERENCE_ARRAYS).is_file()
    if cached and _cached_version(run_dir) >= REFERENCE_VERSION:
        return load_reference(run_dir)
    try:
        texts, source, fingerprint = reference_texts(run_dir)
    except UsageError:
        if cached:  # an older reference, and the data it would be rebuilt from is gone: keep using it
            return load_reference(run_dir)
        raise
    reference = build_reference(predictor, texts, size=size, seed=seed)
    save_reference(run_dir, reference, {"seed": seed, "source": source, "texts": len(texts),
                                        "fingerprint": fingerprint})
    return load_reference(run_dir)  # as every later call reads it (embeddings stored as float16)


def _cached_version(run_dir: Path) -> int:
    try:
        return int(read_json(run_dir / REFERENCE_META).get("version", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0  # unreadable: rebuilt


def reference_texts(run_dir: Path) -> tuple[list[str], str, str]:
    """The texts the reference samples, what they are ("held-out" dev and test, or "training") and the data's
    fingerprint, re-read with the run's own data settings (refused when the files changed since)."""
    from tunelab.data.load import run_dataset

    bundle = run_dataset(run_dir, "drift reference")
    held_out = [e.text for split in (bundle.dev, bundle.test) if split is not None for e in split.examples]
    if len(held_out) >= MIN_HELD_OUT:
        return held_out, "held-out", bundle.fingerprint
    return [e.text for e in bundle.train.examples], "training", bundle.fingerprint
