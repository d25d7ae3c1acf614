"""run_prune: drop transformer layers or attention heads from a finished run, fine-tune briefly to recover,
then gate.

    pruned weights (staging): layers spread evenly, or the least important heads (gradient-based head
    importance on a sample of the training data, Michel et al. 2019) removed from the matrices
    -> the ordinary training recipe on the run's own data, starting from them
    -> dev metric against the original on the same dev examples -> keep the new run folder only if the
    drop is within the tolerance (or forced); the card goes into both manifests.
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from tunelab.artifacts.cards import ArtifactCard
from tunelab.artifacts.files import write_json_atomic
from tunelab.artifacts.manifest import free_card_name, record_cards
from tunelab.compress.gate import GateSet, gate
from tunelab.compress.prune import check_heads, write_head_pruned, write_pruned
from tunelab.config import RunConfig, load_run_config
from tunelab.errors import UsageError
from tunelab.inference import Predictor
from tunelab.recipes.export import dev_examples

IMPORTANCE_EXAMPLES = 512  # training examples the head ranking is computed on


def run_prune(run: str | Path, *, layers: int | None = None, keep: list[int] | None = None,
              heads: float | None = None, epochs: int | None = None, output: str | Path | None = None,
              tolerance: float = 1.0, force: bool = False, show_progress: bool = True) -> dict[str, Any]:
    """Prune `run` to `layers` layers (default: half) or exactly the layers in `keep`, or remove `heads`
    attention heads (a count, or a fraction when below 1); recover; gate."""
    from tunelab.recipes.train import rebase_run, run_train

    if tolerance < 0:
        raise UsageError("--tolerance is in metric points and must be >= 0")
    if heads is not None and (layers or keep):
        raise UsageError("prune either layers (--layers/--keep) or heads (--heads), not both in one step")
    if heads is not None:
        check_heads(heads)
    run_dir = Path(run)
    original = Predictor.load(run_dir, backend="torch")
    out = Path(output) if output else run_dir.with_name(f"{run_dir.name}-pruned")
    if out.exists():
        raise UsageError(f"{out} exists already", hint="pass --output NEW_FOLDER or remove it")
    config = load_run_config(run_dir)  # what the run's model was trained with, case feature included
    gate_set = GateSet.of(original, dev_examples(run_dir, None))
    reference, ref_logits = gate_set.score(original.model, original.manifest.task_state)
    recovery = epochs or max(1, int(config.train.epochs or 2) // 2)
    with tempfile.TemporaryDirectory(prefix=".prune-", dir=run_dir.parent) as tmp:
        base = Path(tmp) / "base"
        if heads is not None:
            what = _stage_heads(run_dir, original, config, heads, base)
        else:
            what = _stage_layers(run_dir, original, layers, keep, base)
        print(f"prune: {what['summary']}; recovery fine-tune for {recovery} epoch(s)", file=sys.stderr)
        # fewer layers: the run's frozen bottom layers (chosen for its depth) are chosen again for the cut model's
        frozen = config.train.frozen_layers if heads is not None else None
        new_config = replace(config, model=replace(config.model, name=str(base)),
                             train=replace(config.train, epochs=recovery, patience=0, frozen_layers=frozen,
                                           ema_decay=None),  # chosen for the recovery run (an old run has 0)
                             output=str(out))
        run_train(new_config, show_progress=show_progress)
    pruned = Predictor.load(out, backend="torch")  # same tokenizer and labels: the gate set's encoding holds
    candidate, new_logits = gate_set.score(pruned.model, pruned.manifest.task_state)
    result = gate(reference, candidate, ref_logits, new_logits, tolerance, force)
    what_done = what.pop("summary")
    what["backend"] = free_card_name(run_dir, what["backend"], str(out.resolve()))
    card = {**what, "recovery_epochs": recovery, "run_path": str(out.resolve()),
            "parameters": sum(p.numel() for p in pruned.model.parameters()),
            "parameters_original": sum(p.numel() for p in original.model.parameters()),
            "metric_name": candidate.metric_name, "metric": candidate.metric, "gate": result.to_dict(),
            "passed": result.passed, "forced": result.forced}
    print(f"prune: {result.message}", file=sys.stderr)
    record_cards(run_dir, {card["backend"]: ArtifactCard.from_json(card["backend"], card)})
    if result.passed:
        rebase_run(out, f"{run_dir.resolve()}, pruned: {what_done}")
        write_json_atomic(out / "prune_card.json", card)
    else:
        shutil.rmtree(out, ignore_errors=True)  # refused: no folder that looks like a usable model stays
        card["run_path"] = None
    return card


def _stage_layers(run_dir: Path, original: Predictor, layers: int | None, keep: list[int] | None,
                  base: Path) -> dict[str, Any]:
    total = int(original.model.config.num_hidden_layers)
    target: list[int] | int = keep if keep else (layers or max(1, total // 2))
    indices = write_pruned(run_dir, target, base, original.task.name)
    return {"backend": f"pruned-{len(indices)}of{total}", "kept_layers": indices,
            "summary": f"keeping layers {indices} of {total}"}


def _stage_heads(run_dir: Path, original: Predictor, config: RunConfig, heads: float, base: Path) -> dict[str, Any]:
    """Rank heads on a seeded sample of the run's training data (dev stays for the gate), remove the weakest."""
    from tunelab.data import load_dataset

    examples = list(load_dataset(config.data, config.train.seed).train.examples)
    random.Random(config.train.seed).shuffle(examples)
    task = original.task
    encoded = task.encode(examples[:IMPORTANCE_EXAMPLES], original.tokenizer, original.label_set,
                          int(original.manifest.max_length))
    info = write_head_pruned(run_dir, heads, base, task, encoded, original._pad_id())
    layers = int(original.model.config.num_hidden_layers)
    summary = (f"removing {info['removed']} of {info['heads_before']} attention heads over {layers} layers "
               f"(least important on {len(encoded)} training examples): {info['pruned_heads']}")
    return {"backend": f"pruned-heads-{info['heads_before'] - info['removed']}of{info['heads_before']}",
            **info, "summary": summary}
