"""Load a tokenizer and build a task model from a local encoder folder; wrap it for LoRA, AdaLoRA or a probe."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tunelab.config import TrainConfig
from tunelab.errors import ModelNotFoundError, UsageError
from tunelab.models.casing import mark_recorded_case
from tunelab.models.heads import load_pretrained

log = logging.getLogger(__name__)

DROPOUT_KEYS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout")


def quiet_transformers() -> None:
    """Silence transformers' load reports and download bars; TuneLab reports for itself."""
    import warnings

    import transformers

    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def load_tokenizer(path: Path) -> Any:
    """The folder's fast tokenizer; marked to pack the words' case into the ids when the folder's config.json
    records the case feature (models/casing.py)."""
    from transformers import AutoTokenizer

    quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load a tokenizer from {path}: {exc}") from None
    if not getattr(tokenizer, "is_fast", True):
        raise UsageError(f"{path}: TuneLab needs a fast (tokenizers-backed) tokenizer for word alignment")
    return mark_recorded_case(tokenizer, path)


def build_model(auto_class: Any, path: Path, labels: tuple[str, ...], *, dropout: float | None = None,
                **config_kwargs: Any) -> Any:
    """`auto_class.from_pretrained(path)` with a fresh head for `labels` and optional dropout."""
    from transformers import AutoConfig

    quiet_transformers()
    config = AutoConfig.from_pretrained(str(path))
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}
    for key, value in config_kwargs.items():
        setattr(config, key, value)
    if dropout is not None:
        for key in DROPOUT_KEYS:
            if hasattr(config, key):
                setattr(config, key, dropout)
    try:
        return load_pretrained(auto_class, path, config)  # also rebuilds pruned attention heads
    except OSError as exc:
        raise ModelNotFoundError(f"cannot load weights from {path} (safetensors only): {exc}") from None


def head_module_names(model: Any) -> list[str]:
    """Names of the task-head modules (kept trainable and saved with an adapter)."""
    names = [n for n, _ in model.named_children() if n in ("classifier", "score", "pre_classifier")]
    if not names:
        raise UsageError(f"cannot find the classification head of {type(model).__name__}")
    return names


def apply_method(model: Any, train: TrainConfig, task_type: str, total_steps: int) -> Any:
    """Prepare `model` for the training method: full (as is, or with its word embeddings frozen when
    `train.word_embeddings` says so), probe (frozen encoder), lora, adalora."""
    if train.method == "full":
        if train.word_embeddings == "freeze":
            model.get_input_embeddings().weight.requires_grad_(False)  # no gradient, no optimiser state
        return model
    heads = head_module_names(model)
    if train.method == "probe":
        for name, param in model.named_parameters():
            param.requires_grad = name.split(".")[0] in heads
        return model
    return _wrap_peft(model, train, task_type, total_steps, heads)


def _wrap_peft(model: Any, train: TrainConfig, task_type: str, total_steps: int, heads: list[str]) -> Any:
    from peft import AdaLoraConfig, LoraConfig, get_peft_model

    common: dict[str, Any] = dict(task_type=task_type, lora_alpha=train.lora_alpha,
                                  lora_dropout=train.lora_dropout, target_modules=_targets(model),
                                  modules_to_save=heads)
    if train.method == "lora":
        config: Any = LoraConfig(r=train.lora_r, **common)
    else:
        tinit = max(1, int(total_steps * 0.1))
        tfinal = max(1, int(total_steps * 0.2))
        if tinit + tfinal >= total_steps:
            tinit, tfinal = 0, 0
        config = AdaLoraConfig(init_r=train.lora_r, target_r=train.adalora_target_r, tinit=tinit,
                               tfinal=tfinal, deltaT=max(1, total_steps // 50), total_step=total_steps,
                               **common)
    return get_peft_model(model, config)


def _targets(model: Any) -> list[str]:
    """Attention and feed-forward linear layers, by the names the common encoder families use."""
    import torch

    candidates = ("query", "key", "value", "q", "k", "v", "o", "dense", "q_proj", "k_proj", "v_proj",
                  "out_proj", "query_proj", "key_proj", "value_proj", "in_proj")
    heads = set(head_module_names(model))
    found = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name.split(".")[0] not in heads:
            leaf = name.split(".")[-1]
            if leaf in candidates:
                found.add(leaf)
    if not found:
        raise UsageError(f"no linear layers to adapt found in {type(model).__name__}")
    return sorted(found)
