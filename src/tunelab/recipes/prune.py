"""run_prune: drop transformer layers from a finished run, fine-tune briefly to recover, then gate.

    pruned weights (staging) -> the ordinary training recipe on the run's own data, starting from them
    -> dev metric against the original on the same dev examples -> keep the new run folder only if the
    drop is within the tolerance (or forced); the card goes into both manifests.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from tunelab.artifacts.files import write_json_atomic
from tunelab.compress.gate import GateSet, gate, record_cards
from tunelab.compress.prune import write_pruned
from tunelab.config import load_config
from tunelab.errors import UsageError
from tunelab.inference import Predictor
from tunelab.recipes.export import dev_examples


def run_prune(run: str | Path, *, layers: int | None = None, keep: list[int] | None = None,
              epochs: int | None = None, output: str | Path | None = None, tolerance: float = 1.0,
              force: bool = False, show_progress: bool = True) -> dict[str, Any]:
    """Prune `run` to `layers` layers (default: half) or exactly the layers in `keep`, recover, gate."""
    from tunelab.recipes.train import run_train

    if tolerance < 0:
        raise UsageError("--tolerance is in metric points and must be >= 0")
    run_dir = Path(run)
    original = Predictor.load(run_dir, backend="torch")
    total = int(original.model.config.num_hidden_layers)
    target: list[int] | int = keep if keep else (layers or max(1, total // 2))
    out = Path(output) if output else run_dir.with_name(f"{run_dir.name}-pruned")
    if out.exists():
        raise UsageError(f"{out} exists already", hint="pass --output NEW_FOLDER or remove it")
    config = load_config(run_dir / "config.yaml")
    gate_set = GateSet.of(original, dev_examples(run_dir, None))
    reference, ref_logits = gate_set.score(original.model, original.manifest.task_state)
    with tempfile.TemporaryDirectory(prefix=".prune-", dir=run_dir.parent) as tmp:
        indices = write_pruned(run_dir, target, Path(tmp) / "base", original.task.name)
        recovery = epochs or max(1, int(config.train.epochs or 2) // 2)
        print(f"prune: keeping layers {indices} of {total}; recovery fine-tune for {recovery} epoch(s)",
              file=sys.stderr)
        new_config = replace(config, model=replace(config.model, name=str(Path(tmp) / "base")),
                             train=replace(config.train, epochs=recovery, patience=0), output=str(out))
        run_train(new_config, show_progress=show_progress)
    pruned = Predictor.load(out, backend="torch")  # same tokenizer and labels: the gate set's encoding holds
    candidate, new_logits = gate_set.score(pruned.model, pruned.manifest.task_state)
    result = gate(reference, candidate, ref_logits, new_logits, tolerance, force)
    params = sum(p.numel() for p in pruned.model.parameters())
    card = {"backend": f"pruned-{len(indices)}of{total}", "kept_layers": indices, "recovery_epochs": recovery,
            "run_path": str(out.resolve()), "parameters": params,
            "parameters_original": sum(p.numel() for p in original.model.parameters()),
            "metric_name": candidate.metric_name, "metric": candidate.metric, "gate": result.to_dict(),
            "passed": result.passed, "forced": result.forced}
    print(f"prune: {result.message}", file=sys.stderr)
    record_cards(run_dir, {card["backend"]: card})
    if result.passed:
        write_json_atomic(out / "prune_card.json", card)
    else:
        shutil.rmtree(out, ignore_errors=True)  # refused: no folder that looks like a usable model stays
        card["run_path"] = None
    return card
