"""run_distill: teach a smaller student from a fine-tuned teacher run, then gate it against the teacher.

    teacher run -> its logits over the run's training data (and any unlabelled texts given), once (no teacher
    forward per step)
    -> student encoder (bundled, a local folder, or either cut to fewer layers) -> the ordinary training
    recipe and loop, with a task whose loss is alpha * KL(student/T || teacher/T) * T^2 + (1 - alpha) * CE
    -> dev metric against the teacher -> keep the student run only if the drop is within the tolerance
    (or forced); the manifest records the teacher and the KD settings.

Unlabelled texts (`unlabelled`: one per line, or a file in the training data's format): the teacher labels them
and the student learns the teacher's soft labels on them too (the teacher term alone; no gold label). Texts that
are in the run's train, dev or test files are left out, so the dev gate and the test score stay unseen.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.artifacts.cards import ArtifactCard
from tunelab.artifacts.files import write_json_atomic
from tunelab.artifacts.manifest import free_card_name, record_cards
from tunelab.compress.distill import (
    DistillTask,
    KDSettings,
    example_key,
    labelled_rows,
    teacher_logits,
    unlabelled_examples,
)
from tunelab.compress.gate import GateSet, gate
from tunelab.compress.prune import write_cut_encoder
from tunelab.config import RunConfig, load_config, with_overrides
from tunelab.errors import UsageError
from tunelab.inference import Predictor
from tunelab.models.resolve import resolve_model_path
from tunelab.recipes.export import dev_examples
from tunelab.training.precision import choose_precision
from tunelab.training.progress import pass_bar
from tunelab.types import DatasetBundle, Example, Split


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(f"distill: {message}", file=sys.stderr, flush=True)


def run_distill(teacher: str | Path, *, student: str = "minilm", layers: int | None = None,
                output: str | Path | None = None, epochs: int | None = None, lr: float | None = None,
                alpha: float = 0.5,
                temperature: float = 2.0, tolerance: float = 1.0, force: bool = False,
                unlabelled: str | Path | None = None, teacher_precision: str = "auto", seed: int | None = None,
                overrides: Sequence[str] = (), show_progress: bool = True) -> dict[str, Any]:
    """Distil the fine-tuned `teacher` run into `student` (optionally cut to `layers` layers), on its training
    data and on the `unlabelled` texts the teacher labels; gate; card. `teacher_precision` (auto | fp32 | bf16):
    how the teacher's pass that makes the soft labels runs (auto: bf16 where the hardware has it); the gate's
    reference scores stay the teacher's torch fp32 ones. `overrides`: `train.KEY=VALUE` / `model.KEY=VALUE` for
    the student's run (`--set`: frozen layers, word embeddings, batch size...), applied last; the keys distillation
    decides itself (FIXED_KEYS) are refused."""
    from tunelab.data import load_dataset
    from tunelab.recipes.train import run_train

    settings = KDSettings(alpha, temperature).check()
    if tolerance < 0:
        raise UsageError("--tolerance is in metric points and must be >= 0")
    if unlabelled is not None and settings.alpha == 0:
        raise UsageError("--unlabelled texts train on the teacher term alone, which --alpha 0 switches off",
                         hint="give --alpha > 0 (default 0.5), or leave --unlabelled out")
    overrides = list(overrides)  # recorded in the card
    _check_overrides(overrides)
    teacher_dir = Path(teacher)
    out = Path(output) if output else teacher_dir.with_name(f"{teacher_dir.name}-distilled")
    if out.exists():
        raise UsageError(f"{out} exists already", hint="pass --output NEW_FOLDER or remove it")
    source = resolve_model_path(student)  # fails at once, with a fix, for an unknown student
    reference = Predictor.load(teacher_dir, backend="torch")
    labelling = choose_precision(teacher_precision, device=reference.precision.device, flag="--teacher-precision")
    config = load_config(teacher_dir / "config.yaml")
    student_seed = config.train.seed if seed is None else seed
    # built (and the overrides' keys, types and values checked) before the teacher's pass; what depends on the
    # student's depth, such as its frozen layers, is checked when its run starts
    student_run = student_config(config, out, source, epochs, lr, student_seed, overrides)
    bundle = load_dataset(config.data, config.train.seed)
    if student_seed != config.train.seed and _carved(config, bundle):
        raise UsageError(f"--seed {seed}: the teacher's dev or test split was drawn from its training file with seed "
                         f"{config.train.seed}; another seed would draw the student's differently",
                         hint="leave --seed out, or distil a teacher trained with --dev and --test files")
    if reference.task.build_labels(bundle.train.examples) != reference.label_set:
        raise UsageError(f"the training data of {teacher_dir} no longer gives the teacher's labels",
                         hint="distil from a run whose data files are unchanged")
    extra = None if unlabelled is None else _unlabelled(Path(unlabelled), reference, config, bundle, show_progress)
    more = extra.examples if extra else ()
    texts = [*bundle.train.examples, *more]
    _say(show_progress, f"teacher logits over {len(bundle.train)} training examples"
         + (f" and {len(more)} unlabelled texts" if more else "") + f" (one pass, {labelling.dtype})")
    with pass_bar("teacher logits", " word pieces", show=show_progress) as bar:
        logits = teacher_logits(reference, texts, precision=labelling,
                                on_progress=lambda done, total: _advance(bar, done, total))
    task = DistillTask(reference.task, logits, settings, frozenset(example_key(e) for e in more))
    gate_set = GateSet.of(reference, dev_examples(teacher_dir, None))
    ref_eval, ref_logits = gate_set.score(reference.model, reference.manifest.task_state)
    with tempfile.TemporaryDirectory(prefix=".distill-", dir=out.parent if out.parent.is_dir() else None) as tmp:
        kept = write_cut_encoder(source, layers, Path(tmp) / "student") if layers else None
        base = Path(tmp) / "student" if layers else source
        _say(show_progress, f"student {student}" + (f" cut to layers {kept}" if kept else "")
             + (f"; {epochs} epoch(s)" if epochs else "") + f", alpha {settings.alpha:g}, T {settings.temperature:g}")
        run_train(replace(student_run, model=replace(student_run.model, name=str(base))),  # the cut copy, if any
                  show_progress=show_progress, task=task, unlabelled=extra)
        n_epochs = load_config(out / "config.yaml").train.epochs
    return _gate_and_record(teacher_dir, out, reference, gate_set, ref_eval, ref_logits, tolerance, force,
                            {"student": student, "layers": layers, "kept_layers": kept, "epochs": n_epochs, "lr": lr,
                             "train_examples": len(bundle.train), "unlabelled_examples": len(more),
                             "unlabelled": _file_record(Path(unlabelled)) if unlabelled is not None else None,
                             "teacher_precision": labelling.dtype,
                             "seed": student_seed, "overrides": overrides, **asdict(settings)})


def student_config(teacher: RunConfig, out: Path, base: Path, epochs: int | None, lr: float | None, seed: int,
                   overrides: list[str]) -> RunConfig:
    """The student's run config: the teacher's data, batch size and privacy settings; full fine-tuning of `base`
    through the loop, with `overrides` (`--set`) applied last and checked as `tunelab train --set` checks them.

    KD needs the loop: a few-shot teacher's config would send the student to the contrastive recipe, which knows
    nothing of the teacher's logits; and KD is the student's loss, not the teacher's LogitNorm. What the teacher's
    config resolved for the teacher's encoder and method (epochs, max length, lr, dropout, frozen bottom layers, word
    embeddings, case feature, weight average) is chosen again for the student's: a teacher's 2 frozen layers would
    leave a 3-layer student one to train, and refuse a 2-layer one; a 12-layer teacher's 3 epochs would cut a
    6-layer student's short; a LoRA teacher's average (off) would not apply."""
    config = replace(teacher, output=str(out),
                     model=replace(teacher.model, name=str(base), max_length=None, case_feature="auto", dropout=None),
                     train=replace(teacher.train, epochs=epochs, method="full", lr=lr, seed=seed, few_shot="never",
                                   loss="cross_entropy", frozen_layers=None, word_embeddings="auto", ema_decay=None))
    return with_overrides(config, overrides)


# Keys of the student's run that distillation decides, or that a flag of its own sets (the card records the flag).
FIXED_KEYS = {"model.name": "the student model is --student, cut by --layers",
              "train.method": "distillation trains the student fully, through the loop",
              "train.few_shot": "distillation trains the student through the loop",
              "train.loss": "the student's loss is the KD loss (--alpha, --temperature)",
              "train.seed": "use --seed (checked against the teacher's carved splits)",
              "train.epochs": "use --epochs", "train.lr": "use --lr",
              "train.privacy": "the student keeps the teacher's privacy settings",
              "train.epsilon": "the student keeps the teacher's privacy settings",
              "train.delta": "the student keeps the teacher's privacy settings"}


def _check_overrides(overrides: list[str]) -> None:
    for item in overrides:
        key = item.partition("=")[0].strip()
        if not key.startswith(("train.", "model.")):
            raise UsageError(f"--set {item}: only train.* and model.* keys set the student's run",
                             hint="the data are the teacher's; --output names the student's folder")
        if key in FIXED_KEYS:
            raise UsageError(f"--set {item}: distillation sets {key} itself", hint=FIXED_KEYS[key])


def _gate_and_record(teacher_dir: Path, out: Path, reference: Predictor, gate_set: GateSet, ref_eval: Any,
                     ref_logits: list[np.ndarray], tolerance: float, force: bool,
                     how: dict[str, Any]) -> dict[str, Any]:
    """Score the student on the teacher's dev examples, gate it, write the cards and the manifest note."""
    from tunelab.artifacts.manifest import load_manifest, save_manifest
    from tunelab.recipes.train import rebase_run

    student = Predictor.load(out, backend="torch")
    own = GateSet.of(student, gate_set.examples)  # the student's own tokenizer and max length
    candidate, new_logits = own.score(student.model, student.manifest.task_state)
    if reference.task.spec.per_token:  # compare per word: the two tokenizers may split words differently
        ref_logits = [labelled_rows(x, e) for x, e in zip(ref_logits, gate_set.encoded)]
        new_logits = [labelled_rows(x, e) for x, e in zip(new_logits, own.encoded)]
        ref_logits, new_logits = _trim_pairs(ref_logits, new_logits)
    result = gate(ref_eval, candidate, ref_logits, new_logits, tolerance, force)
    params = sum(p.numel() for p in student.model.parameters())
    layers = int(getattr(student.model.config, "num_hidden_layers", 0))
    name = free_card_name(teacher_dir, f"distilled-{layers}L", str(out.resolve()))
    card = {"backend": name, "run_path": str(out.resolve()), "teacher": str(teacher_dir.resolve()),
            **how, "parameters": params,
            "parameters_teacher": sum(p.numel() for p in reference.model.parameters()),
            "metric_name": candidate.metric_name, "metric": candidate.metric,
            "teacher_metric": ref_eval.metric, "gate": result.to_dict(), "passed": result.passed,
            "forced": result.forced}
    print(f"distill: {result.message}", file=sys.stderr, flush=True)
    record_cards(teacher_dir, {card["backend"]: ArtifactCard.from_json(card["backend"], card)})
    if not result.passed:
        shutil.rmtree(out, ignore_errors=True)  # refused: no folder that looks like a usable model stays
        card["run_path"] = None
        return card
    student_name = how["student"] + (f" cut to {how['layers']} layers" if how["layers"] else "")
    rebase_run(out, student_name)
    manifest = load_manifest(out)
    manifest.artifacts = {**manifest.artifacts, "distillation": {
        "teacher": card["teacher"], "teacher_base_model": reference.manifest.base_model,
        "teacher_metric": ref_eval.metric, **how, "gate": card["gate"]}}
    save_manifest(out, manifest)
    write_json_atomic(out / "distill_card.json", card)
    return card


def _advance(bar: Any, done: int, total: int) -> None:  # a tqdm bar
    bar.total = total
    bar.update(done - bar.n)


def _carved(config: RunConfig, bundle: DatasetBundle) -> bool:
    """True when the run's dev or test split came out of its training file (drawn with the training seed)."""
    return any(getattr(config.data, split) is None and getattr(bundle, split) is not None for split in ("dev", "test"))


def _trim_pairs(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Equal row counts per example (truncation may cut the two tokenizations at different words)."""
    pairs = [(x[: min(len(x), len(y))], y[: min(len(x), len(y))]) for x, y in zip(a, b)]
    kept = [(x, y) for x, y in pairs if len(x)]
    return [x for x, _ in kept], [y for _, y in kept]


def _unlabelled(path: Path, reference: Predictor, config: RunConfig, bundle: DatasetBundle,
                show_progress: bool) -> Split:
    """The unlabelled texts of `path` as training examples (read in the format its name says, with the run's text
    column), less repeats and texts of the run's own train, dev and test files."""
    from tunelab.data import read_examples

    data = replace(config.data, task=reference.task.name, format=None)
    read = read_examples(path, data, labeled=False)  # raises DataError naming the file and row
    examples = unlabelled_examples(reference.task, read, reference.label_set, reference.manifest.task_state)
    seen = {_text_key(e) for split in (bundle.train, bundle.dev, bundle.test) if split for e in split.examples}
    kept: list[Example] = []
    for example in examples:
        key = _text_key(example)
        if key and key not in seen:
            seen.add(key)
            kept.append(example)
    if not kept:
        raise UsageError(f"{path}: no unlabelled text left: each one is empty, repeated or in the run's own data",
                         hint="give texts the teacher was not trained, tuned or tested on")
    if len(kept) < len(examples):
        _say(show_progress, f"{path}: {len(examples) - len(kept)} of {len(examples)} unlabelled texts left out "
                            "(repeats, or in the run's train, dev or test data)")
    return Split("unlabelled", tuple(kept), str(path))


def _text_key(example: Example) -> str:
    """A text's identity for leaving out repeats: its characters without white space, so a CoNLL sentence ("U.S.
    officials") and the same raw line cut into words ("U . S . officials") meet (rarely, two different texts meet
    too: the safe side)."""
    return "".join(example.text.split())


def _file_record(path: Path) -> dict[str, Any]:
    """Where the unlabelled texts came from, with the file's hash (the run's data fingerprint covers only its
    train, dev and test files)."""
    import hashlib

    return {"path": str(path.resolve()), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
