"""The accuracy gate and the report card: every compressed or exported artifact is measured against the
fp32 original on the dev set, and refused when its metric drops more than a tolerance."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tunelab.tasks import Evaluation


@dataclass
class GateSet:
    """The labelled examples an artifact is gated on, encoded once with the reference model's tokenizer."""

    task: Any
    labels: Any
    examples: list[Any]
    encoded: list[Any]
    pad_id: int

    @classmethod
    def of(cls, reference: Any, examples: Sequence[Any]) -> GateSet:
        """`reference`: the fp32 Predictor the candidates are compared with."""
        examples = list(examples)
        encoded = reference.task.encode(examples, reference.tokenizer, reference.label_set, reference._max_length())
        return cls(reference.task, reference.label_set, examples, encoded, reference._pad_id())

    def score(self, model: Any, state: dict[str, Any]) -> tuple[Evaluation, list[np.ndarray]]:
        """One forward pass: the evaluation and the logits it came from (the gate compares both)."""
        from tunelab.models.forward import predict_logits

        logits = predict_logits(model, self.encoded, batch_size=32, pad_id=self.pad_id,
                                per_token=self.task.spec.per_token)
        return self.task.evaluate(logits, self.encoded, self.examples, self.labels, state, tune=False), logits


@dataclass(frozen=True)
class GateResult:
    passed: bool
    metric_name: str
    reference: float
    candidate: float
    drop_points: float  # (reference - candidate) * 100
    tolerance_points: float
    label_agreement: float  # share of dev predictions with the same label (per token for NER)
    max_abs_logit_diff: float
    per_class_drops: dict[str, float] = field(default_factory=dict)  # F1 points lost, worst first
    forced: bool = False

    @property
    def message(self) -> str:
        verdict = "kept by --force despite" if self.forced else ("passed" if self.passed else "REFUSED")
        return (f"{verdict} the accuracy gate: dev {self.metric_name} {self.candidate:.4f} vs {self.reference:.4f} "
                f"fp32 ({-self.drop_points:+.2f} points, tolerance {self.tolerance_points:g}); label agreement "
                f"{self.label_agreement:.2%}, max |logit diff| {self.max_abs_logit_diff:.3g}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


def per_class_f1(evaluation: Evaluation) -> dict[str, float]:
    per_class = evaluation.report.get("per_class") or evaluation.report.get("per_type") or {}
    return {k: float(v.get("f1", 0.0)) for k, v in per_class.items() if isinstance(v, dict)}


def gate(reference: Evaluation, candidate: Evaluation, ref_logits: Sequence[np.ndarray],
         cand_logits: Sequence[np.ndarray], tolerance_points: float, force: bool = False) -> GateResult:
    drop = (reference.metric - candidate.metric) * 100.0
    ref_f1, cand_f1 = per_class_f1(reference), per_class_f1(candidate)
    drops = {k: round((ref_f1[k] - cand_f1.get(k, 0.0)) * 100.0, 2) for k in ref_f1}
    worst = dict(sorted(((k, v) for k, v in drops.items() if v > 0), key=lambda kv: -kv[1])[:10])
    agree = [np.argmax(a, axis=-1) == np.argmax(b, axis=-1) for a, b in zip(ref_logits, cand_logits)]
    agreement = float(np.mean(np.concatenate([np.atleast_1d(x) for x in agree]))) if agree else 1.0
    diff = max((float(np.max(np.abs(a - b))) for a, b in zip(ref_logits, cand_logits)), default=0.0)
    passed = drop <= tolerance_points + 1e-9
    return GateResult(passed or force, reference.metric_name, float(reference.metric), float(candidate.metric),
                      round(drop, 4), tolerance_points, agreement, diff, worst, forced=force and not passed)


def measure_speed(run_batch: Callable[[np.ndarray, np.ndarray], Any], token_pool: Sequence[int], *,
                  short_len: int = 16, batch_len: int = 48, batch: int = 32, seconds: float = 2.0) -> dict[str, float]:
    """Latency at batch 1 for a `short_len`-token input (p50/p95 ms) and throughput at `batch` x `batch_len`
    (sequences/s), each measured for about `seconds` after a warm-up. Inputs are drawn from `token_pool`
    (ids seen in real data), so every model gets the same, valid, tokens."""
    rng = np.random.default_rng(0)
    pool = np.asarray(sorted(set(token_pool)) or [0], dtype=np.int64)

    def inputs(n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        ids = rng.choice(pool, size=(n, length)).astype(np.int64)
        return ids, np.ones_like(ids)

    one = inputs(1, short_len)
    many = inputs(batch, batch_len)
    for _ in range(3):
        run_batch(*one)
        run_batch(*many)
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 20:
        t0 = time.perf_counter()
        run_batch(*one)
        times.append((time.perf_counter() - t0) * 1000.0)
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or count < 3:
        run_batch(*many)
        count += 1
    elapsed = time.perf_counter() - t0
    quantiles = statistics.quantiles(times, n=20)
    return {"latency_b1_p50_ms": round(statistics.median(times), 3), "latency_b1_p95_ms": round(quantiles[18], 3),
            "throughput_b32_per_s": round(count * batch / elapsed, 1), "short_len": short_len,
            "batch_len": batch_len}


def measure_interleaved(runners: dict[str, Callable[[np.ndarray, np.ndarray], Any]], token_pool: Sequence[int], *,
                        seconds: float = 2.0, rounds: int = 3) -> dict[str, dict[str, float]]:
    """`measure_speed` for several models in interleaved rounds (A B C, A B C, ...), medians per model:
    a burst of load from elsewhere then hits every model alike instead of deciding the ranking."""
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            samples[name].append(measure_speed(run, token_pool, seconds=seconds / rounds))
    out = {}
    for name, rows in samples.items():
        out[name] = {key: (statistics.median(r[key] for r in rows) if key.endswith(("_ms", "_per_s")) else rows[0][key])
                     for key in rows[0]}
        out[name]["rounds"] = rounds
    return out
