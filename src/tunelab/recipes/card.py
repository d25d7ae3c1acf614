"""The model card: README.md in the run folder, built with huggingface_hub's ModelCard and rendered locally."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunelab.artifacts.files import write_text_atomic
from tunelab.artifacts.manifest import Manifest
from tunelab.config import RunConfig
from tunelab.models.origin import find_origin
from tunelab.tasks.spec import get_spec

PIPELINE_TAGS = {"AutoModelForSequenceClassification": "text-classification",
                 "AutoModelForTokenClassification": "token-classification"}
DATASET_TYPE = "local"  # the run's own files, not a hub dataset

OPEN = '''import torch
from transformers import {auto}, AutoTokenizer

folder = "path/to/this/folder"
model = {auto}.from_pretrained(folder).eval()
tokenizer = AutoTokenizer.from_pretrained(folder)
'''
LOAD = OPEN + '''settings = model.config.tunelab  # config.json["tunelab"]: task, max_length{extra}
batch = tokenizer(["some text"], truncation=True, max_length={length}, padding=True, return_tensors="pt")
with torch.no_grad():
    logits = model(**batch).logits
'''
LOAD_CASED_WORDS = OPEN + '''

def case(word):  # each word's case, which this model reads as its token type: 0 lower, 2 Title, 3 UPPER, 4 MiXed
    letters = [c for c in word if c.isalpha()]
    if not any(c.isupper() for c in letters):
        return 0
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return 3
    return 2 if letters[0].isupper() and not any(c.isupper() for c in letters[1:]) else 4


words = [text.split() for text in ["some text"]]
batch = tokenizer(words, is_split_into_words=True, truncation=True, max_length={length}, padding=True,
                  return_tensors="pt")
batch["token_type_ids"] = torch.tensor([[0 if w is None else case(ws[w]) for w in batch.word_ids(row)]
                                        for row, ws in enumerate(words)])
with torch.no_grad():
    logits = model(**batch).logits
'''
DECODE_SINGLE = '''labels = [model.config.id2label[i] for i in logits.softmax(-1).argmax(-1).tolist()]
'''
DECODE_MULTI = '''names = [model.config.id2label[i] for i in range(logits.shape[-1])]
labels = [[n for n, p in zip(names, row) if p >= settings["thresholds"][n]]
          for row in torch.sigmoid(logits).tolist()]
'''
DECODE_TOKENS = '''# one IOB2 tag per token; TuneLab tags a word by its first sub-token and joins B-/I- runs to spans
tags = [[model.config.id2label[i] for i in row] for row in logits.argmax(-1).tolist()]
'''


def build_card_data(manifest: Manifest, config: RunConfig, name: str, auto: str) -> Any:
    """Hub metadata: base model (hub id), pipeline tag, licence, library, and a model-index of the metrics."""
    from huggingface_hub import EvalResult, ModelCardData

    pipeline_tag = PIPELINE_TAGS[auto]
    origin = find_origin(manifest.base_model)
    results = [EvalResult(task_type=pipeline_tag, dataset_type=DATASET_TYPE, dataset_name=_dataset_name(config, split),
                          dataset_split=split, metric_type=metric, metric_name=metric, metric_value=value)
               for split, values in manifest.metrics.items() for metric, value in values.items()]
    return ModelCardData(model_name=name, base_model=origin.hub_id, pipeline_tag=pipeline_tag, license=origin.license,
                         library_name="transformers", tags=["tunelab", manifest.task], eval_results=results or None)


def render_model_card(manifest: Manifest, config: RunConfig, name: str = "tunelab-model",
                      reads_case: bool = False) -> str:
    """The whole README.md: YAML metadata, then what the model is, how it was made and how good it is
    (`reads_case`: the saved model reads the words' case, models/casing.py)."""
    from huggingface_hub import ModelCard

    auto = get_spec(manifest.task).auto_model
    data = build_card_data(manifest, config, name, auto)
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n{_body(manifest, config, data, auto, reads_case)}")
    return str(card)


def write_model_card(run_dir: Path, manifest: Manifest, config: RunConfig) -> None:
    from tunelab.models.casing import recorded_case_id_base

    write_text_atomic(run_dir / "README.md", render_model_card(manifest, config, run_dir.name,
                                                               recorded_case_id_base(run_dir) is not None))


def plain_transformers_snippet(manifest: Manifest, auto: str, reads_case: bool = False) -> str:
    """Python that reproduces TuneLab's predictions with transformers alone (config.json's "tunelab" key); a model
    that reads the words' case (models/casing.py) is given them as token types."""
    thresholds = bool(manifest.task_state.get("thresholds"))
    if auto == "AutoModelForTokenClassification" and reads_case:
        return LOAD_CASED_WORDS.format(auto=auto, length='min(512, model.config.max_position_embeddings)') + \
            DECODE_TOKENS
    if auto == "AutoModelForTokenClassification":  # long texts: TuneLab tags up to the position limit
        return LOAD.format(auto=auto, extra="", length='min(512, model.config.max_position_embeddings)') + DECODE_TOKENS
    return LOAD.format(auto=auto, extra=", thresholds" if thresholds else "", length='settings["max_length"]') + (
        DECODE_MULTI if thresholds else DECODE_SINGLE)


def _dataset_name(config: RunConfig, split: str) -> str:
    given = {"dev": config.data.dev, "test": config.data.test}.get(split)
    source = Path(given or config.data.train or "data").name
    return source if given else f"{source} (split carved from it)"


def _body(manifest: Manifest, config: RunConfig, data: Any, auto: str, reads_case: bool = False) -> str:
    labels = ", ".join(manifest.labels[:40]) + (" ..." if len(manifest.labels) > 40 else "")
    metric_rows = "\n".join(f"| {split} | {name} | {value:.4f} |" for split, values in manifest.metrics.items()
                            for name, value in values.items())
    origin = f" ([{data.base_model}](https://huggingface.co/{data.base_model}))" if data.base_model else ""
    t = config.train
    return f"""# TuneLab model: {manifest.task}

Fine-tuned from `{manifest.base_model}`{origin} with TuneLab (method: {manifest.method}).

- Labels ({len(manifest.labels)}): {labels}
- Training data fingerprint (sha256): `{manifest.data_fingerprint}`
- Splits: {manifest.splits.get("note", "")}
- Hyper-parameters: epochs {t.epochs}, batch {t.batch_size}, lr {t.lr}, warm-up {t.warmup_ratio},
  decay power {t.power}, weight decay {t.weight_decay}, max length {manifest.max_length}, seed {t.seed},
  precision {manifest.precision}
- Training: {manifest.timings.get("train_seconds")} s, {manifest.timings.get("samples_per_second")} samples/s,
  best step {manifest.timings.get("best_step")}
- Licence: {data.license or "not known locally: see the base model's and your data's terms"}
{privacy_line(manifest.privacy)}{few_shot_line(manifest.few_shot)}{case_line(reads_case)}
## Results

| split | metric | value |
|---|---|---|
{metric_rows}

Full report: [report.md](report.md); metrics: [metrics.json](metrics.json).

## Use

```python
import tunelab
model = tunelab.load("path/to/this/folder")
model.predict(["some text"])
```

With plain transformers, `config.json` carries what the predictions depend on beyond the weights under
`"tunelab"`: `max_length` (texts are truncated to it) and, for multi-label models, `thresholds` (a label is
predicted when its sigmoid score reaches its threshold, tuned on dev):

```python
{plain_transformers_snippet(manifest, auto, reads_case)}```

## Limits

Trained on the data above only: expect lower quality on text unlike it. The bundled base
model is English and uncased; other scripts (e.g. Chinese) are seen character by character.
"""


def few_shot_line(few_shot: dict[str, Any]) -> str:
    """The model card's line on the few-shot recipe (empty when it did not run: the hyper-parameters above apply)."""
    if not few_shot.get("used"):
        return ""
    mean = few_shot.get("pooling") == "mean"
    return (f"- Few-shot recipe ({few_shot['reason']}): {few_shot['pairs']} contrastive sentence pairs from "
            f"{few_shot['pair_iterations']} rounds, then a {few_shot['head']}; the epochs, batch and lr above "
            "did not apply" + ("; the classifier reads the normalised mean of the token states (config.json: "
                               "tunelab.pooling = mean), which `tunelab.load` restores and plain transformers "
                               "does not ([CLS] pooling)" if mean else "") + "\n")


def case_line(reads_case: bool) -> str:
    """The model card's line on the words' case feature (empty when the model does not read it)."""
    if not reads_case:
        return ""
    return ("- Words' case: each word piece reads its word's case (lower, Title, UPPER, MiXed) as its token type "
            "(TuneLab packs it into the token ids: config.json's tunelab.case_id_base, which `tunelab.load` "
            "restores); with plain transformers pass the case as `token_type_ids`, as the snippet below does, or "
            "every word reads as lower case and the tags can differ\n")


def privacy_line(privacy: dict[str, Any]) -> str:
    """The model card's line on differentially private training (empty when the run was not private)."""
    if not privacy:
        return ""
    return (f"- Differential privacy: (ε = {privacy['epsilon']}, δ = {privacy['delta']:.2g}) spent over "
            f"{privacy['steps']} steps of {privacy['mechanism']}; noise multiplier "
            f"{privacy['noise_multiplier']:.3f}, per-example clipping at {privacy['max_grad_norm']:g}"
            + _dp_settings(privacy) + "\n")


def _dp_settings(privacy: dict[str, Any]) -> str:
    """The method, expected batch and rate a DP run trained with, and which were DP's defaults."""
    if not privacy.get("method"):
        return ""
    defaults = privacy.get("defaults") or []
    return (f"; method {privacy['method']}, expected batch {privacy['expected_batch_size']} (Poisson sampling), "
            f"lr {privacy['lr']:g}" + (f" (DP defaults: {', '.join(defaults)})" if defaults else "")
            + ("; the head reads the normalised mean of the token states (config.json: tunelab.pooling = mean), "
               "which `tunelab.load` restores and plain transformers does not ([CLS] pooling)"
               if privacy.get("pooling") == "mean" else ""))
