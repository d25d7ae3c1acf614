"""Run configuration as typed dataclasses; YAML and dotted overrides map onto them, unknown keys rejected.

Fields left as None are chosen from the data at run time (see `training/defaults.py`) and the
resolved values are saved with the run as `config.yaml`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tunelab.errors import ConfigError

METHODS = ("full", "lora", "adalora", "probe")
PRECISIONS = ("auto", "fp32", "bf16")


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
    """NER tag scheme of CoNLL input: auto, iob1, iob2 or bioes (all normalised to IOB2)."""
    dev_fraction: float = 0.1
    """Share of train carved out as dev when no dev file is given."""
    test_fraction: float = 0.1
    """Share of train carved out as test when no test file is given (0 for none)."""


@dataclass
class ModelConfig:
    """Which pretrained encoder to start from."""

    name: str = "minilm"
    """'minilm' (bundled all-MiniLM-L6-v2) or a local folder with a Hugging Face encoder."""
    max_length: int | None = None
    """Token limit per text; default from the training texts' token-length distribution."""
    dropout: float | None = None
    """Hidden and attention dropout; default: the base model's own."""


@dataclass
class TrainConfig:
    """How to train: method, optimiser, schedule, stopping, checkpoints."""

    method: str = "full"
    """full, lora, adalora or probe (frozen encoder, head only)."""
    epochs: int | None = None
    """Passes over train; default from data size."""
    batch_size: int | None = None
    """Examples per step; default from data size."""
    max_tokens: int | None = None
    """Token-budget batching: each step takes as many length-grouped examples as fit in this many padded
    tokens (instead of batch_size examples). Off by default."""
    lr: float | None = None
    """Peak learning rate; default depends on the method."""
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


@dataclass
class RunConfig:
    """Everything a training run needs; saved resolved as config.yaml in the run folder."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output: str | None = None
    """Run folder to create."""

    def validate(self) -> None:
        """Check values that types alone cannot; raises ConfigError naming the key."""
        from tunelab.tasks.spec import TASK_NAMES

        checks: list[tuple[bool, str]] = [
            (self.train.method in METHODS, f"train.method must be one of {', '.join(METHODS)}"),
            (self.train.precision in PRECISIONS, f"train.precision must be one of {', '.join(PRECISIONS)}"),
            (self.data.task in TASK_NAMES, f"data.task must be one of {', '.join(TASK_NAMES)}"),
            (0 <= self.data.dev_fraction < 0.5, "data.dev_fraction must be in [0, 0.5)"),
            (0 <= self.data.test_fraction < 0.5, "data.test_fraction must be in [0, 0.5)"),
            (self.train.power > 0, "train.power must be > 0"),
            (0 <= self.train.warmup_ratio < 1, "train.warmup_ratio must be in [0, 1)"),
            (self.train.epochs is None or self.train.epochs > 0, "train.epochs must be > 0"),
            (self.train.batch_size is None or self.train.batch_size > 0, "train.batch_size must be > 0"),
            (self.train.max_tokens is None or self.train.max_tokens > 0, "train.max_tokens must be > 0"),
            (self.train.lr is None or self.train.lr > 0, "train.lr must be > 0"),
            (self.model.max_length is None or 8 <= self.model.max_length <= 8192,
             "model.max_length must be in [8, 8192]"),
            (self.model.dropout is None or 0 <= self.model.dropout < 1, "model.dropout must be in [0, 1)"),
            (self.train.checkpoint_every > 0, "train.checkpoint_every must be > 0"),
            (self.train.adalora_target_r <= self.train.lora_r, "train.adalora_target_r must be <= train.lora_r"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


def to_dict(config: Any) -> dict[str, Any]:
    """A plain nested dict of a config dataclass (for YAML/JSON)."""
    return dataclasses.asdict(config)


def from_dict(cls: type, raw: Any, path: str = "") -> Any:
    """Build dataclass `cls` from a nested dict, rejecting unknown keys and wrong types by key path."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        where = ", ".join(f"{path}.{k}" if path else str(k) for k in unknown)
        raise ConfigError(f"unknown config key: {where}", hint=f"valid keys here: {', '.join(sorted(names))}")
    values = {}
    for key, value in raw.items():
        key_path = f"{path}.{key}" if path else key
        values[key] = _coerce(hints[key], value, key_path)
    return cls(**values)


def _coerce(hint: Any, value: Any, path: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, path)
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{path}: may not be empty")
    for option in options:
        if option is type(None):
            continue
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is float and isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
            except ValueError:
                pass
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is bool and isinstance(value, bool):
            return value
        if option is str and isinstance(value, str):
            return value
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise ConfigError(f"{path}: expected {names}, got {value!r}")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML config (optional) then apply `key.sub=value` overrides; validate the result."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        raw = loaded or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
    for item in overrides or []:
        apply_override(raw, item)
    config = from_dict(RunConfig, raw)
    config.validate()
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
    node[parts[-1]] = yaml.safe_load(text) if text.strip() else None


def save_config(config: RunConfig, path: Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    from tunelab.artifacts.files import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(to_dict(config), sort_keys=False))


def describe_fields(cls: type) -> dict[str, str]:
    """Field name -> docstring, read from the attribute docstrings in this module (used for CLI help)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(cls))
    docs: dict[str, str] = {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = str(nxt.value.value)  # type: ignore[union-attr]
    return docs
