"""Early stopping: training ends once the dev metric stops improving, and the best weights are kept."""

from __future__ import annotations

import json
from pathlib import Path

import tunelab


def test_stops_when_dev_metric_stalls(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    summary = tunelab.train(data=str(intent_csv), dev=str(intent_csv), test=str(intent_csv),
                            model=str(tiny_model), output=str(tmp_path / "run"), epochs=30, batch_size=6,
                            lr=1e-9, warmup_ratio=0.0, patience=2, precision="fp32", show_progress=False)
    timings = summary.manifest.timings
    assert timings["stopped_early"] is True
    assert timings["steps"] == 3 * 3  # 3 steps an epoch; best at epoch 1, then 2 evaluations without gain
    assert timings["best_step"] == 3
    history = json.loads((summary.run_dir / "history.json").read_text())
    assert len([h for h in history if "dev_metric" in h]) == 3
