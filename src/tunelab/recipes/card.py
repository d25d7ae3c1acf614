"""The model card: a README.md in the run folder saying what the model is, how it was made and how good it is."""

from __future__ import annotations

from pathlib import Path

from tunelab.artifacts.files import write_text_atomic
from tunelab.artifacts.manifest import Manifest
from tunelab.config import RunConfig
from tunelab.tasks.spec import get_spec


def render_model_card(manifest: Manifest, config: RunConfig) -> str:
    labels = ", ".join(manifest.labels[:40]) + (" ..." if len(manifest.labels) > 40 else "")
    metric_rows = "\n".join(f"| {split} | {name} | {value:.4f} |" for split, values in manifest.metrics.items()
                            for name, value in values.items())
    auto = get_spec(manifest.task).auto_model
    t = config.train
    return f"""---
library_name: transformers
tags: [tunelab, {manifest.task}]
---
# TuneLab model: {manifest.task}

Fine-tuned from `{manifest.base_model}` with TuneLab (method: {manifest.method}).

- Labels ({len(manifest.labels)}): {labels}
- Training data fingerprint (sha256): `{manifest.data_fingerprint}`
- Splits: {manifest.splits.get("note", "")}
- Hyper-parameters: epochs {t.epochs}, batch {t.batch_size}, lr {t.lr}, warm-up {t.warmup_ratio},
  decay power {t.power}, weight decay {t.weight_decay}, max length {manifest.max_length}, seed {t.seed},
  precision {manifest.precision}
- Training: {manifest.timings.get("train_seconds")} s, {manifest.timings.get("samples_per_second")} samples/s,
  best step {manifest.timings.get("best_step")}

## Results

| split | metric | value |
|---|---|---|
{metric_rows}

Full report: [report.md](report.md); metrics: [metrics.json](metrics.json).

## Use

```python
import tunelab
model = tunelab.load("{{this folder}}")
model.predict(["some text"])
```

or with plain transformers: `{auto}.from_pretrained("{{this folder}}")`.

## Limits

Trained on the data above only: expect lower quality on text unlike it. The bundled base
model is English and uncased; other scripts (e.g. Chinese) are seen character by character.
"""


def write_model_card(run_dir: Path, manifest: Manifest, config: RunConfig) -> None:
    write_text_atomic(run_dir / "README.md", render_model_card(manifest, config))
