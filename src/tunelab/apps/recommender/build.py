"""run_build: data -> temporal split -> fine-tuned two-tower encoder -> item vectors -> baselines -> hybrid blender
fitted on validation -> one evaluation table on test -> a build folder a server can load."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from tunelab.apps.recommender.baselines import Factors, Popularity, fit_baselines
from tunelab.apps.recommender.blend import Blender, fit_blender
from tunelab.apps.recommender.dataset import DataOptions, Dataset, Interactions, load_dataset
from tunelab.apps.recommender.engine import Signals, freshness_of
from tunelab.apps.recommender.evaluation import (
    BlendChoice,
    blender_candidates,
    choose_blender,
    evaluation_table,
    held_out,
    hybrid_scorer,
)
from tunelab.apps.recommender.retrieval import ANN_THRESHOLD, ItemIndex
from tunelab.apps.recommender.split import TEST, TRAIN, VALID, SplitSpec, assign_parts, save_split
from tunelab.apps.recommender.state import BuildState
from tunelab.apps.recommender.towers import NextItemExamples
from tunelab.apps.recommender.train import TowerConfig, train
from tunelab.artifacts.files import write_json_atomic
from tunelab.training.precision import choose_precision


@dataclass(frozen=True)
class BuildOptions:
    data: DataOptions = field(default_factory=DataOptions)
    split: SplitSpec = SplitSpec()
    tower: TowerConfig = TowerConfig()
    model: str = "minilm"
    train_layers: int = 2  # top encoder layers fine-tuned (0: all); the rest stay frozen, which is 3x faster on CPU
    precision: str = "auto"
    ann_threshold: int = ANN_THRESHOLD
    cold_slots: int = 1  # of every top k, the last places kept for the best new (cold) items when validation allows
    show_progress: bool = True


@dataclass(frozen=True)
class BuildSummary:
    folder: Path
    table: dict[str, dict[str, float | int]]
    timings: dict[str, float]
    counts: dict[str, int]
    warnings: int


@dataclass(frozen=True)
class _Matrices:
    known: sp.csr_matrix  # users x items, 1 where liked
    times: sp.csr_matrix  # same structure, the latest time of each like (shifted to be > 0)


def run_build(interactions: Path, items: Path, output: Path, options: BuildOptions, *, tags: Path | None = None,
              test_file: Path | None = None, extra: tuple[Path, ...] = (), resume: bool = False) -> BuildSummary:
    say = _printer(options.show_progress)
    clock: dict[str, float] = {}
    started = time.perf_counter()
    dataset = load_dataset(interactions, items, options.data, tags, extra)
    positives = dataset.interactions.positives()
    parts = assign_parts(positives, options.split, given_test=test_file is not None)
    output.mkdir(parents=True, exist_ok=True)
    save_split(output / "split.csv", positives, parts, dataset.catalogue.item_ids)
    say(f"data: {len(dataset.catalogue.item_ids)} items, {len(positives.users)} positives of "
        f"{len(dataset.interactions.users)} interactions, {len(dataset.warnings)} warnings; split {options.split}")
    clock["read_seconds"] = time.perf_counter() - started
    encoder, state = _fine_tune(dataset, positives, parts, output, options, resume, clock, say)
    started = time.perf_counter()
    vectors = encoder.embed(list(dataset.catalogue.texts), "passage", batch_size=128)
    clock["embed_seconds"] = time.perf_counter() - started
    say(f"item vectors: {len(vectors)} in {clock['embed_seconds']:.1f} s")
    build_state, table, choice = rank_and_evaluate(dataset, positives, parts, vectors, options, test_file, clock,
                                                    say)
    encoder.save(output / "encoder")
    build_state.save(output)
    counts = {"items": len(dataset.catalogue.item_ids), "users": len(dataset.interactions.user_ids),
              "interactions": len(dataset.interactions.users), "positives": len(positives.users),
              "train": int((parts == TRAIN).sum()), "valid": int((parts == VALID).sum()),
              "test": int((parts == TEST).sum()), "train_steps": state.global_step}
    clock["train_samples_per_second"] = round(state.samples_seen / max(state.train_seconds, 1e-9), 2)
    manifest = {"kind": "recommender", "options": _options_dict(options), "counts": counts, "timings": clock,
                "evaluation": table, "blender": build_state.blender.to_dict(),
                "blender_choice": {"chosen": choice.chosen, "validation_ndcg": choice.validation_ndcg},
                "losses": state.history[-50:],
                "sources": {"interactions": str(interactions), "items": str(items), "tags": str(tags or ""),
                            "test": str(test_file or ""), "extra": [str(p) for p in extra]}}
    write_json_atomic(output / "manifest.json", manifest)
    return BuildSummary(output, table, clock, counts, len(dataset.warnings))


def _fine_tune(dataset: Dataset, positives: Interactions, parts: np.ndarray, output: Path, options: BuildOptions,
               resume: bool, clock: dict[str, float], say: Any) -> tuple[Any, Any]:
    from tunelab.apps.assistant.index import SentenceEncoder
    from tunelab.models.resolve import resolve_model_path

    encoder = SentenceEncoder.load(resolve_model_path(options.model), max_length=64)
    freeze_lower_layers(encoder.model, options.train_layers)
    train_rows = parts == TRAIN
    examples = NextItemExamples.build(positives.users[train_rows], positives.items[train_rows],
                                      positives.times[train_rows], options.tower.history)
    say(f"fine-tuning the encoder on {len(examples)} next-item pairs")
    started = time.perf_counter()
    # item texts as the encoder will see them when serving: with the model's passage prefix (e5: "passage: ")
    texts = tuple(encoder.prefixed(dataset.catalogue.texts, "passage"))
    state = train(encoder.model, encoder.tokenizer, texts, examples, options.tower, output,
                  precision=choose_precision(options.precision), resume=resume, show_progress=options.show_progress)
    clock["train_seconds"] = time.perf_counter() - started
    return encoder, state


def freeze_lower_layers(model: Any, trainable: int) -> None:
    """Leave only the top `trainable` transformer layers trainable (0: everything)."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not trainable or layers is None:
        return
    keep = {f"encoder.layer.{i}." for i in range(max(0, len(layers) - trainable), len(layers))}
    for name, param in model.named_parameters():
        param.requires_grad = any(name.startswith(k) for k in keep)


def matrices(positives: Interactions, mask: np.ndarray, shape: tuple[int, int]) -> _Matrices:
    users, items, times = positives.users[mask], positives.items[mask], positives.times[mask]
    order = np.lexsort((times, items, users))[::-1]
    keys = users[order] * shape[1] + items[order]
    _, first = np.unique(keys, return_index=True)  # the latest time of each (user, item)
    pick = order[first]
    shifted = times[pick] - (positives.times.min() if len(positives.times) else 0.0) + 1.0
    known = sp.csr_matrix((np.ones(len(pick), dtype=np.float32), (users[pick], items[pick])), shape=shape)
    when = sp.csr_matrix((shifted, (users[pick], items[pick])), shape=shape)
    return _Matrices(known, when)


def _signals(positives: Interactions, mask: np.ndarray, vectors: np.ndarray, collab: Factors, blender: Blender,
             threshold: int) -> Signals:
    matrix = matrices(positives, mask, (len(positives.user_ids), len(vectors))).known
    last = np.full(len(vectors), -np.inf)
    np.maximum.at(last, positives.items[mask], positives.times[mask])
    end = float(positives.times[mask].max()) if mask.any() else 0.0
    counts = Popularity.fit(matrix).counts
    # an item nobody liked keeps ALS's random initial factors; zero, as for items added through the API, so among
    # cold items only their text tells them apart
    factors = np.where(counts[:, None] > 0, collab.items, 0.0).astype(collab.items.dtype)
    return Signals(ItemIndex.build(vectors, threshold), factors, np.log1p(counts), freshness_of(last, end), blender)


def rank_and_evaluate(dataset: Dataset, positives: Interactions, parts: np.ndarray, vectors: np.ndarray,
                      options: BuildOptions, test_file: Path | None, clock: dict[str, float],
                      say: Any) -> tuple[BuildState, dict[str, dict[str, float | int]], BlendChoice]:
    """Everything after the item vectors: baselines, the blender fitted on validation, the test table. Also how a
    finished build is ranked again with its saved vectors (no retraining) when the ranking or metric code
    changes."""
    shape = (len(positives.user_ids), len(vectors))
    width, decay = options.tower.history, options.tower.decay
    started = time.perf_counter()
    train_only = matrices(positives, parts == TRAIN, shape)
    als_train = Factors.fit_als(train_only.known)
    signals = _signals(positives, parts == TRAIN, vectors, als_train, Blender.neutral(), options.ann_threshold)
    valid = held_out(positives.users[parts == VALID], positives.items[parts == VALID], train_only.known)
    fitted = fit_blender(blender_candidates(signals, als_train.users, train_only.known, train_only.times, valid,
                                            width, decay))
    choice = choose_blender(signals, fitted, als_train.users, train_only.known, train_only.times, valid, width, decay,
                            options.cold_slots)
    say("blender weights: " + ", ".join(f"{k} {v['weight']:.3f}" for k, v in fitted.to_dict()["signals"].items())
        + f"; validation NDCG@10 {choice.validation_ndcg}; serving: {choice.chosen}")
    seen = matrices(positives, parts != TEST, shape)
    baselines = fit_baselines(seen.known)
    als = next(b for b in baselines if isinstance(b, Factors) and b.name == "als")
    final = _signals(positives, parts != TEST, vectors, als, signals.blender, options.ann_threshold)
    clock["baselines_and_blender_seconds"] = time.perf_counter() - started
    test_users, test_items = _test_pairs(dataset, positives, parts, test_file, options)
    test = held_out(test_users, test_items, seen.known)
    model = hybrid_scorer(final, als.users, seen.known, seen.times, width, decay)
    text = hybrid_scorer(final, als.users, seen.known, seen.times, width, decay, text_only=True)
    table = {name: m.to_dict() for name, m in evaluation_table(baselines, model, text, test).items()}
    interactions = dataset.interactions
    state = BuildState(dataset.catalogue, interactions.user_ids, interactions.users, interactions.items,
                       interactions.times, interactions.weights, vectors, als.users, final.collab_items,
                       final.popularity, final.freshness, final.blender, decay, width)
    return state, table, choice


def _test_pairs(dataset: Dataset, positives: Interactions, parts: np.ndarray, test_file: Path | None,
                options: BuildOptions) -> tuple[np.ndarray, np.ndarray]:
    if test_file is None:
        return positives.users[parts == TEST], positives.items[parts == TEST]
    from tunelab.apps.recommender.interactions import read_interactions
    from tunelab.errors import DataError

    given, problems = read_interactions((test_file,), dataset.catalogue, options.data)
    errors = [p for p in problems if p.severity == "error"]
    if given is None or errors:
        raise DataError(errors or problems)
    given = given.positives()
    index = {u: i for i, u in enumerate(positives.user_ids)}
    rows = np.array([index.get(given.user_ids[u], -1) for u in given.users], dtype=np.int64)
    return rows[rows >= 0], given.items[rows >= 0]


def _options_dict(options: BuildOptions) -> dict[str, Any]:
    data = asdict(options)
    data["data"]["positive"] = options.data.positive.text
    data["data"]["event_weights"] = dict(options.data.event_weights)
    return data


def _printer(enabled: bool) -> Any:
    def say(message: str) -> None:
        if enabled:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
    return say
