"""run_build: knowledge base -> intent classifier + FAQ index -> thresholds calibrated on held-out questions.

The calibration set: a share of every intent's examples and one phrasing of every FAQ entry (in scope), and the
KB's out-of-scope examples. When the KB has fewer than `min_oos` of those, out-of-scope questions are simulated
by holding out whole intents (a second classifier is trained without them) and whole FAQ entries (left out of
the calibration index): questions about them must be handed off, as real unseen topics would be.

When the KB has at least `2 * min_oos` out-of-scope examples (`oos_training="auto"`), a share of them
(`negatives_fraction`) also trains the classifier as one more class, `out_of_scope`, whose probability becomes the
`reject` score; the rest calibrate, so no question is both trained on and calibrated on. Intents are then held out
as well (`holdout="auto"`): the calibration needs out-of-scope questions unlike the trained ones.
"""

from __future__ import annotations

import csv
import hashlib
import random
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.apps.assistant.calibrate import Calibration, Target, calibrate, calibrate_ood
from tunelab.apps.assistant.evaluation import detection_of
from tunelab.apps.assistant.index import FaqIndex, SentenceEncoder
from tunelab.apps.assistant.kb import OUT_OF_SCOPE, FaqEntry, Intent, KnowledgeBase, load_kb
from tunelab.apps.assistant.layout import AssistantManifest, save_assistant_manifest, save_kb_copy
from tunelab.apps.assistant.ood import CLASSIFIER_COMPONENTS, METHODS, Combiner, OodModel, fit_combiner, save_ood_model
from tunelab.apps.assistant.prior import estimate_oos_share
from tunelab.apps.assistant.router import Scores, score_questions
from tunelab.artifacts.files import write_json_atomic
from tunelab.errors import UsageError
from tunelab.inference.outliers import OodStats, fit_stats
from tunelab.registry.names import check_name

ENCODER_MAX_LENGTH = 128  # tokens per question for the FAQ sentence embeddings
FEATURE_POOLING = "mean"  # the classifier features behind the distance scores (Banking77 quick: AUROC +0.014-0.02)
# The classifier trains every weight, word embeddings included, whatever the training defaults choose for speed:
# the hand-off reads its features and its answers. Full Banking77 benchmark, same machine and code, 2026-12-05:
# word embeddings trained / frozen: in-scope accuracy 0.934 / 0.928 with nothing handed off, AUROC 0.9338 / 0.9314,
# out-of-scope recall at in-scope accuracy >= 0.90 0.675 / 0.575 (benchmarks/RESULTS.md, "Assistant benchmark").
# The bottom 2 of 6 layers frozen with the embeddings (the default for this size), 2026-12-06, LogitNorm: AUROC
# 0.941 -> 0.932, that recall 0.725 -> 0.660, for a build 1.3x faster (benchmarks/results/assistant-frozen2.json).
# Its loss is not set here: the training default (`auto`: LogitNorm from 20 intents on MiniLM). Full Banking77, same
# split and seeds, 2026-12-06, AMD EPYC: LogitNorm against the cross-entropy's four full runs that week: in-scope
# accuracy with nothing handed off 0.939 (0.927-0.934), combined AUROC 0.941 (0.933-0.939), FPR at 95% recall 0.211
# (0.23-0.27), out-of-scope recall at in-scope accuracy >= 0.90 0.725 (0.675-0.720). Mahalanobis alone falls
# (0.930 -> 0.901) and the calibration blend moves its weight to `nearest` and the softmax. Quick mode (40
# questions per intent) said the opposite for the AUROC (0.905 -> 0.888), with accuracy up 0.858 -> 0.909.
CLASSIFIER_TRAINING = {"word_embeddings": "train", "frozen_layers": 0}


@dataclass(frozen=True)
class BuildOptions:
    name: str
    model: str = "minilm"
    target: Target = Target()
    holdout: str = "auto"  # auto | always | never: simulate out-of-scope questions by holding out intents/FAQs
    holdout_fraction: float = 0.2  # share of intents (and FAQ entries) held out when simulating
    calibration_fraction: float = 0.2  # share of each intent's examples kept out of training for calibration
    min_oos: int = 20  # fewer KB out-of-scope examples than this: simulate
    oos_training: str = "auto"  # auto | never: train on a share of the KB's out-of-scope examples as a class
    negatives_fraction: float = 0.5  # that share (the rest calibrate)
    ood_method: str = "combined"  # the out-of-scope score deciding hand-offs (ood.METHODS), or "thresholds"
    oos_share: float | None = None  # expected out-of-scope share of traffic (None: the calibration split's)
    traffic: tuple[str, ...] = ()  # unlabelled traffic questions to estimate the share from (when not stated)
    seed: int = 42
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    precision: str = "auto"
    patience: int = 3
    max_steps: int | None = None
    show_progress: bool = True


@dataclass(frozen=True)
class BuildSummary:
    folder: Path
    manifest: AssistantManifest
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class _Plan:
    train: list[tuple[str, str]]  # (text, intent) for the classifier
    calib_in: list[tuple[str, str]]  # held-out in-scope questions with their intent or FAQ id
    oos: list[str]  # out-of-scope calibration questions
    held_intents: tuple[str, ...]
    held_faq: tuple[str, ...]
    calib_faq: list[tuple[str, list[str]]]  # the calibration index: entries and the phrasings left in
    like_trained: tuple[str, ...] = ()  # the KB's out-of-scope examples in `oos` when others trained the classifier

    @property
    def trained_negatives(self) -> int:
        """How many of the KB's out-of-scope examples train the classifier as its `out_of_scope` class."""
        return sum(label == OUT_OF_SCOPE for _, label in self.train)


def run_build(kb_path: str | Path, output: str | Path, options: BuildOptions,
              extra: Sequence[tuple[str, str]] = ()) -> BuildSummary:
    """Build an assistant folder from a knowledge base; `extra` are (question, label) pairs from resolved
    hand-offs (label: an intent, a FAQ id or out_of_scope)."""
    say = _printer(options.show_progress)
    check_name(options.name, "assistant name")
    check_ood_options(options)
    kb, warnings = merge_examples(load_kb(kb_path), extra)
    plan = plan_calibration(kb, options)
    if plan.trained_negatives and not plan.held_intents:
        warnings.append("the classifier trains on out-of-scope examples but no intents are held out (--holdout "
                        "never): the thresholds are calibrated on questions like the trained ones and will hand off "
                        "fewer questions on other topics than the calibration reports; use --holdout auto")
    folder, staging = _prepare_output(Path(output))
    try:
        manifest = _build(kb, kb_path, plan, staging, options, len(extra), say)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.replace(folder)
    return BuildSummary(folder, manifest, tuple(warnings))


def _build(kb: KnowledgeBase, kb_path: str | Path, plan: _Plan, staging: Path, options: BuildOptions, n_extra: int,
           say: Any) -> AssistantManifest:
    say(f"assistant {options.name}: {len(kb.intents)} intents, {len(kb.faq)} FAQ entries, "
        f"{len(kb.out_of_scope)} out-of-scope examples, {n_extra} from resolved hand-offs")
    say(f"calibration set: {len(plan.calib_in)} in-scope, {len(plan.oos)} out-of-scope questions"
        + (f" (held out intents {', '.join(plan.held_intents)})" if plan.held_intents else "")
        + (f" (held out FAQ entries {', '.join(plan.held_faq)})" if plan.held_faq else ""))
    classifiers = _train_classifiers(kb, plan, staging, options, say)
    encoder, index, calib_index = _build_index(kb, plan, staging, options, say)
    say("[3/3] calibrating the thresholds on the held-out questions")
    questions = [q for q, _ in plan.calib_in] + plan.oos
    gold = [label for _, label in plan.calib_in] + [OUT_OF_SCOPE] * len(plan.oos)
    on = _threshold_questions(plan, questions, gold)
    if len(on) < len(questions):
        say(f"      thresholds set on the held-out topics' questions: the KB's {len(questions) - len(on)} other "
            "out-of-scope examples are like the trained ones and would make the recall look higher than on new topics")
    if options.ood_method == "thresholds":
        scores = score_questions(questions, classifiers.calibration, encoder, calib_index)
        calibration = calibrate(scores.scored().take(on), [gold[i] for i in on], options.target,
                                oos_share=options.oos_share)
    else:
        scores, calibration = _calibrate_ood(questions, gold, on, classifiers, encoder, calib_index, staging, options)
    _save_calibration(staging, questions, gold, scores, calibration)
    shutil.rmtree(staging / ".calibration-classifier", ignore_errors=True)
    save_kb_copy(staging, kb)
    manifest = _manifest(kb, kb_path, options, calibration, plan, n_extra)
    save_assistant_manifest(staging, manifest)  # last: a folder with assistant.json is complete
    _report(calibration, options, say)
    return manifest


def _report(calibration: Calibration, options: BuildOptions, say: Any) -> None:
    m = calibration.metrics
    t, share = calibration.thresholds, calibration.oos_share
    decides = (f"{options.ood_method} out-of-scope score >= {t.ood:.4g} hands off" if t.ood is not None
               else f"intent >= {t.intent:.3f}, faq >= {t.faq:.3f}")
    source = "stated" if options.oos_share is not None else f"estimated from {len(options.traffic)} traffic questions"
    weighting = f" (precision for an out-of-scope share of {share:.3f}, {source})" if share is not None else ""
    say(f"thresholds: {decides}; held-out in-scope accuracy {m.in_scope_accuracy:.3f}, out-of-scope precision "
        f"{m.oos_precision:.3f}{weighting}, recall {m.oos_recall:.3f} (target {options.target.metric} >= "
        f"{options.target.value}: {'met' if calibration.target_met else 'MISSED'})")


def check_ood_options(options: BuildOptions) -> None:
    if options.ood_method not in (*METHODS, "thresholds"):
        raise UsageError(f"unknown out-of-scope score {options.ood_method!r}",
                         hint=f"choose one of {', '.join(METHODS)} or thresholds (the softmax and FAQ thresholds)")
    if options.oos_training not in ("auto", "never"):
        raise UsageError(f"unknown --oos-training {options.oos_training!r}",
                         hint="auto (train on a share of the knowledge base's out-of-scope examples when it has "
                              "enough) or never (use them for calibration only)")
    if not 0 < options.negatives_fraction < 1:
        raise UsageError(f"the negatives fraction must be between 0 and 1, got {options.negatives_fraction}")
    if options.oos_share is not None and not 0 < options.oos_share < 1:
        raise UsageError(f"--oos-share must be between 0 and 1 (exclusive), got {options.oos_share}",
                         hint="the expected share of out-of-scope questions in traffic, e.g. 0.13")


def merge_examples(kb: KnowledgeBase, extra: Sequence[tuple[str, str]]) -> tuple[KnowledgeBase, list[str]]:
    """Add resolved hand-offs to the intent examples, FAQ phrasings or out-of-scope list they were resolved to."""
    add: dict[str, list[str]] = {}
    warnings: list[str] = []
    known = kb.answer_ids() | {OUT_OF_SCOPE}
    for text, label in extra:
        if label in known:
            add.setdefault(label, []).append(text)
        else:
            warnings.append(f"resolved hand-off {text[:40]!r} names {label!r}, which the knowledge base lacks: skipped")
    intents = tuple(replace(i, examples=i.examples + tuple(add.get(i.name, ()))) for i in kb.intents)
    faq = tuple(replace(f, questions=f.questions + tuple(add.get(f.id, ()))) for f in kb.faq)
    return replace(kb, intents=intents, faq=faq, out_of_scope=kb.out_of_scope + tuple(add.get(OUT_OF_SCOPE, ()))), \
        warnings


def plan_calibration(kb: KnowledgeBase, options: BuildOptions) -> _Plan:
    """Which questions train the classifier and which are held out to calibrate the thresholds."""
    rng = random.Random(options.seed)
    negatives = bool(kb.intents) and options.oos_training == "auto" and len(kb.out_of_scope) >= 2 * options.min_oos
    # trained negatives make the KB's other out-of-scope examples easy to catch, and they say nothing about topics
    # unlike them: held-out intents keep the thresholds honest for those (Banking77 quick, 2026-12-06: calibrated
    # on the KB's examples alone, out-of-scope recall on unseen topics was 0.20 for a target of 0.8)
    simulate = options.holdout == "always" or (options.holdout == "auto"
                                               and (len(kb.out_of_scope) < options.min_oos or negatives))
    held_intents = _pick([i.name for i in kb.intents], options.holdout_fraction, 2, rng) if simulate else ()
    held_faq = _pick([f.id for f in kb.faq], options.holdout_fraction, 1, rng) if simulate else ()
    train, calib_in, oos = [], [], list(kb.out_of_scope)
    if negatives:
        rng.shuffle(oos)
        k = min(len(oos) - options.min_oos, max(1, round(options.negatives_fraction * len(oos))))
        train += [(t, OUT_OF_SCOPE) for t in oos[:k]]
        oos = oos[k:]
    like_trained = tuple(oos) if negatives else ()
    for intent in kb.intents:
        examples = list(intent.examples)
        rng.shuffle(examples)
        k = round(options.calibration_fraction * len(examples)) if len(examples) >= 4 else 0
        k = max(1, k) if len(examples) >= 4 else 0
        train += [(t, intent.name) for t in examples[k:]]
        if intent.name in held_intents:
            oos += examples
        else:
            calib_in += [(t, intent.name) for t in examples[:k]]
    calib_faq = []
    for entry in kb.faq:
        if entry.id in held_faq:
            oos += list(entry.questions)
        elif len(entry.questions) >= 2:
            kept = list(entry.questions)
            calib_in.append((kept.pop(rng.randrange(len(kept))), entry.id))
            calib_faq.append((entry.id, kept))
        else:
            calib_faq.append((entry.id, list(entry.questions)))
    if not oos:
        raise UsageError("no out-of-scope questions to calibrate the hand-off threshold on",
                         hint=f"add at least {options.min_oos} `out_of_scope` examples to the knowledge base, "
                              "or have at least 3 intents or 2 FAQ entries so some can be held out (--holdout auto)")
    return _Plan(train, calib_in, oos, held_intents, held_faq, calib_faq, like_trained)


def _pick(names: list[str], fraction: float, keep: int, rng: random.Random) -> tuple[str, ...]:
    """A seeded share of `names` to hold out (at least one), leaving at least `keep`."""
    n = min(len(names) - keep, max(1, round(fraction * len(names))))
    return tuple(sorted(rng.sample(names, n))) if n > 0 else ()


@dataclass(frozen=True)
class _Classifiers:
    """The served classifier and the one scoring the calibration questions (the same one unless intents are
    held out), each with the statistics of its training questions' pooled features; None when FAQ only."""

    served: Any = None
    served_stats: OodStats | None = None
    calibration: Any = None
    calibration_stats: OodStats | None = None


def _train_classifiers(kb: KnowledgeBase, plan: _Plan, staging: Path, options: BuildOptions,
                       say: Any) -> _Classifiers:
    """Train the served classifier (every intent) and, when intents are held out, a calibration classifier
    without them; fit the out-of-scope statistics on each one's training questions."""
    from tunelab.inference import Predictor

    if not kb.intents:
        return _Classifiers()
    data = staging / ".data"
    calib_rows = [(t, label) for t, label in plan.calib_in if kb.intent(label) is not None]
    say(f"[1/3] training the intent classifier on {len(plan.train)} examples")
    served = Predictor.load(_train(plan.train, calib_rows, data / "all", staging / "classifier", options))
    stats = _fit_stats(served, plan.train, options, say)
    result = _Classifiers(served, stats, served, stats)
    if plan.held_intents:
        seen = [(t, label) for t, label in plan.train if label not in plan.held_intents]
        say(f"[1/3] training the calibration classifier without the {len(plan.held_intents)} held-out intents")
        calib = Predictor.load(_train(seen, calib_rows, data / "seen", staging / ".calibration-classifier", options))
        result = _Classifiers(served, stats, calib, _fit_stats(calib, seen, options, say))
    shutil.rmtree(data, ignore_errors=True)
    return result


def _fit_stats(classifier: Any, rows: list[tuple[str, str]], options: BuildOptions, say: Any) -> OodStats | None:
    """The intents' feature statistics (the out-of-scope negatives, when trained on, are not an intent)."""
    if options.ood_method == "thresholds":
        return None
    rows = [(t, label) for t, label in rows if label != OUT_OF_SCOPE]
    say(f"      fitting out-of-scope statistics on {len(rows)} training questions' features")
    features, _logits = classifier.features([t for t, _ in rows], pooling=FEATURE_POOLING)
    return fit_stats(features, [label for _, label in rows], pooling=FEATURE_POOLING)


def _threshold_questions(plan: _Plan, questions: list[str], gold: list[str]) -> np.ndarray:
    """Positions of the calibration questions the thresholds are chosen on: all of them, except that when the
    classifier trained on some of the KB's out-of-scope examples, the rest of those examples are left out (when
    other out-of-scope questions remain). They are easy to catch once their like is trained on, so counting them
    would set the recall target for topics the classifier has, in effect, seen; the held-out intents stand for
    topics nobody foresaw. Banking77 quick, --kb-oos 200, seeds 1, 2, 3, 7, 42 (benchmarks/RESULTS.md): out-of-scope
    recall on unforeseen topics at the calibrated point, mean 0.778 -> 0.814 for a target of 0.8 (in-scope accuracy
    0.725 -> 0.704). The blend is still fitted on every question."""
    like = set(plan.like_trained)
    unlike = np.array([g != OUT_OF_SCOPE or q not in like for q, g in zip(questions, gold)])
    if not any(g == OUT_OF_SCOPE for g, u in zip(gold, unlike) if u):
        return np.arange(len(questions))
    return np.flatnonzero(unlike)


def _calibrate_ood(questions: list[str], gold: list[str], on: np.ndarray, classifiers: _Classifiers, encoder: Any,
                   calib_index: Any, staging: Path, options: BuildOptions) -> tuple[Scores, Calibration]:
    """Every out-of-scope score on the calibration questions, the blend fitted on them, the thresholds for the
    chosen method under the stated share (chosen on the questions at `on`); saves the served statistics and the
    blend (ood.json)."""
    scores = score_questions(questions, classifiers.calibration, encoder, calib_index, classifiers.calibration_stats,
                             features=True)
    assert scores.components is not None
    if options.ood_method not in ("combined", *scores.components.names):
        raise UsageError(f"out-of-scope score {options.ood_method!r} needs what this assistant lacks "
                         f"(available: combined, {', '.join(scores.components.names)})")
    is_oos = np.array([g == OUT_OF_SCOPE for g in gold])
    combiner = fit_combiner(scores.components, is_oos)
    calib_model = OodModel(options.ood_method, classifiers.calibration_stats, combiner)
    scores = replace(scores, ood=calib_model.decision(scores.components))
    share = options.oos_share
    if share is None and options.traffic:
        traffic = score_questions(options.traffic, classifiers.calibration, encoder, calib_index,
                                  classifiers.calibration_stats, features=True)
        assert traffic.components is not None and scores.ood is not None
        share = estimate_oos_share(calib_model.decision(traffic.components), scores.ood[~is_oos], scores.ood[is_oos])
    calibration = calibrate_ood(scores.scored().take(on), [gold[i] for i in on], options.target, share)
    save_ood_model(staging, OodModel(options.ood_method, classifiers.served_stats,
                                     _served_combiner(combiner, classifiers, [q for q, g in zip(questions, gold)
                                                                              if g != OUT_OF_SCOPE])))
    return scores, calibration


def _served_combiner(combiner: Combiner, classifiers: _Classifiers, in_scope: list[str]) -> Combiner:
    """When the served classifier is not the calibration one, re-centre the classifier's scores on its own
    in-scope calibration questions (kept out of both classifiers' training)."""
    if classifiers.served is classifiers.calibration or not in_scope:
        return combiner
    served = score_questions(in_scope, classifiers.served, None, None, classifiers.served_stats, features=True)
    assert served.components is not None
    return combiner.recentred(served.components, CLASSIFIER_COMPONENTS)


def _train(rows: list[tuple[str, str]], test_rows: list[tuple[str, str]], data: Path, out: Path,
           options: BuildOptions) -> Path:
    from tunelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from tunelab.recipes.train import run_train

    data.mkdir(parents=True, exist_ok=True)
    train_csv = _write_rows(data / "train.csv", rows)
    labels = {label for _, label in rows}
    test = [r for r in test_rows if r[1] in labels]
    config = RunConfig(
        data=DataConfig(train=str(train_csv), test=str(_write_rows(data / "test.csv", test)) if test else None,
                        test_fraction=0.0),
        model=ModelConfig(name=options.model),
        train=TrainConfig(epochs=options.epochs, batch_size=options.batch_size, lr=options.lr, seed=options.seed,
                          precision=options.precision, max_steps=options.max_steps,
                          patience=options.patience, **CLASSIFIER_TRAINING),
        output=str(out))
    config.validate()
    run_train(config, show_progress=options.show_progress)
    return out


def _write_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def _build_index(kb: KnowledgeBase, plan: _Plan, staging: Path, options: BuildOptions,
                 say: Any) -> tuple[SentenceEncoder | None, FaqIndex | None, FaqIndex | None]:
    if not kb.faq:
        return None, None, None
    from tunelab.models.resolve import resolve_model_path

    say(f"[2/3] embedding {sum(len(f.questions) for f in kb.faq)} FAQ phrasings with {options.model}")
    encoder = SentenceEncoder.load(resolve_model_path(options.model), ENCODER_MAX_LENGTH)
    encoder.save(staging / "encoder")
    index = FaqIndex.build(encoder, [(f.id, f.questions) for f in kb.faq])
    index.save(staging)
    return encoder, index, FaqIndex.build(encoder, plan.calib_faq)


def _save_calibration(folder: Path, questions: list[str], gold: list[str], scores: Scores,
                      calibration: Calibration) -> None:
    def number(x: Any) -> float | None:
        return round(float(x), 6) if np.isfinite(x) else None

    scored = scores.scored()
    rows = [{"question": q, "gold": g, "intent": str(i), "intent_p": number(p), "faq": str(f), "faq_s": number(s)}
            for q, g, i, p, f, s in zip(questions, gold, scored.intent, scored.intent_p, scored.faq, scored.faq_s)]
    extra: dict[str, Any] = {}
    if scores.components is not None:
        for r, row in enumerate(rows):
            row["ood"] = number(scores.ood[r]) if scores.ood is not None else None
            row["components"] = scores.components.row(r)
        extra["detection"] = {name: d.to_dict() for name, d in detection_of(scores, gold).items()}
    write_json_atomic(folder / "calibration.json", {**calibration.to_dict(), **extra, "questions": rows})


def _manifest(kb: KnowledgeBase, kb_path: Any, options: BuildOptions, calibration: Calibration, plan: _Plan,
              n_extra: int) -> AssistantManifest:
    digest = hashlib.sha256(Path(kb_path).read_bytes()).hexdigest()
    counts = {"intents": len(kb.intents), "intent_examples": sum(len(i.examples) for i in kb.intents),
              "faq_entries": len(kb.faq), "faq_questions": sum(len(f.questions) for f in kb.faq),
              "out_of_scope_examples": len(kb.out_of_scope), "handoff_examples": n_extra}
    sources = {"held_out_intents": list(plan.held_intents), "held_out_faq": list(plan.held_faq),
               "calibration_in_scope": len(plan.calib_in), "calibration_out_of_scope": len(plan.oos),
               "classifier_trained_on": len(plan.train),
               "out_of_scope_trained_on": plan.trained_negatives}
    thresholds = {"intent": calibration.thresholds.intent, "faq": calibration.thresholds.faq}
    if calibration.thresholds.ood is not None:
        thresholds["ood"] = calibration.thresholds.ood
    return AssistantManifest(name=options.name, thresholds=thresholds,
                             calibration=calibration.to_dict(), counts=counts, base_model=options.model,
                             max_length=ENCODER_MAX_LENGTH,
                             created_at=datetime.now(UTC).isoformat(timespec="seconds"), kb_source=str(kb_path),
                             kb_sha256=digest, sources=sources)


def _prepare_output(folder: Path) -> tuple[Path, Path]:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"output folder {folder} already exists and is not empty",
                         hint="choose another --output (builds are versioned by folder), or remove it")
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if folder.exists():
        folder.rmdir()
    return folder, staging


def _printer(enabled: bool) -> Any:
    def say(message: str) -> None:
        if enabled:
            print(message, file=sys.stderr, flush=True)

    return say


__all__ = ["BuildOptions", "BuildSummary", "FaqEntry", "Intent", "merge_examples", "plan_calibration", "run_build"]
