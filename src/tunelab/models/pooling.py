"""Mean pooling for BERT-family sequence classifiers, as sentence-transformers and SetFit pool, kept in config.json.

A BERT classifier reads `pooler(last hidden states)`: the [CLS] state through a dense layer and tanh. Sentence
encoders such as all-MiniLM-L6-v2 were trained on the attention-masked mean of the token states, normalised to unit
length; the few-shot recipe pools the same way. `use_mean_pooling` puts a mean pooler in the pooler's place (it keeps
the dense layer's weights, unused, so the saved tensors keep their names and shapes), and `load_pretrained`
(models/heads.py) does it again when config.json's "tunelab" settings say `"pooling": "mean"`. Plain transformers
loads such a folder with [CLS] pooling: the model card says so."""

from __future__ import annotations

import functools
import threading
from typing import Any

MEAN = "mean"
_MASKS = threading.local()  # the attention mask of the forward pass running on this thread


@functools.cache
def _mean_pooler_class() -> Any:
    """MeanPooler, defined on first use (torch is imported lazily across TuneLab)."""
    import torch

    class MeanPooler(torch.nn.Module):
        """Stands in for BertPooler: the masked mean of the last hidden states, unit length."""

        pooling = MEAN

        def __init__(self, original: Any) -> None:
            super().__init__()
            self.dense = getattr(original, "dense", None)  # kept for the checkpoint's names; not used

        def forward(self, hidden_states: Any) -> Any:
            mask = getattr(_MASKS, "mask", None)
            if mask is None or tuple(mask.shape) != tuple(hidden_states.shape[:2]):
                mask = torch.ones(hidden_states.shape[:2], device=hidden_states.device)
            weights = mask.to(hidden_states.dtype).unsqueeze(-1)
            mean = (hidden_states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    return MeanPooler


def _keep_mask(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    mask = kwargs.get("attention_mask")
    _MASKS.mask = mask if mask is not None else (args[1] if len(args) > 1 else None)


def can_mean_pool(model: Any) -> bool:
    """True for a classifier whose encoder has a [CLS] pooler to replace (BERT, MiniLM, ELECTRA-style BERTs)."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    return base is not None and getattr(base, "pooler", None) is not None


def use_mean_pooling(model: Any) -> None:
    """Make `model` (in place) classify the masked, normalised mean of its token states; idempotent."""
    base = getattr(model, model.base_model_prefix)
    if pooling_of(model) == MEAN:
        return
    base.pooler = _mean_pooler_class()(base.pooler)
    base.register_forward_pre_hook(_keep_mask, with_kwargs=True)


def pooling_of(model: Any) -> str | None:
    """"mean" when `model` pools with the mean pooler; None for the architecture's own pooling."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    return MEAN if getattr(getattr(base, "pooler", None), "pooling", None) == MEAN else None


def apply_recorded_pooling(model: Any, config: Any) -> Any:
    """`model` with the pooling its config.json's "tunelab" settings record (after loading it)."""
    settings = getattr(config, "tunelab", None)
    if isinstance(settings, dict) and settings.get("pooling") == MEAN and can_mean_pool(model):
        use_mean_pooling(model)
    return model
