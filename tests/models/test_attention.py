"""Training steps run eager attention on a CPU; every evaluation of the model in training runs the kernel it loaded
with (the one the Predictor serves), so the scores a run records are the ones `tunelab evaluate` gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tunelab
import tunelab.recipes.train as train_recipe
from tunelab.models.attention import SERVED, served_attention, train_with_eager_attention
from tunelab.models.forward import batch_logits


def _classifier(folder: Path):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)


def test_eager_for_training_and_the_loaded_kernel_inside_evaluation(tiny_model: Path) -> None:
    model = _classifier(tiny_model)
    assert model.config._attn_implementation == "sdpa"  # transformers' default where the architecture has it
    train_with_eager_attention(model, "cpu")
    assert model.config._attn_implementation == "eager"
    with served_attention(model):
        assert model.config._attn_implementation == "sdpa"
        with served_attention(model):  # nested: the outer block keeps its kernel after the inner one
            pass
        assert model.config._attn_implementation == "sdpa"
    assert model.config._attn_implementation == "eager"
    with pytest.raises(RuntimeError), served_attention(model):
        raise RuntimeError("an evaluation that fails")
    assert model.config._attn_implementation == "eager"
    seen: list[str] = []
    model.register_forward_pre_hook(lambda m, args: seen.append(m.config._attn_implementation))
    ids = np.array([[2, 7, 9, 3]], dtype=np.int64)
    batch_logits(model, ids, np.ones_like(ids))
    assert seen == ["sdpa"] and model.config._attn_implementation == "eager"


def test_other_devices_eager_models_and_models_that_cannot_switch_are_left_alone(tiny_model: Path) -> None:
    model = _classifier(tiny_model)
    train_with_eager_attention(model, "cuda")
    assert model.config._attn_implementation == "sdpa" and not hasattr(model, SERVED)
    model.set_attn_implementation("eager")
    train_with_eager_attention(model, "cpu")  # loaded eager: nothing to switch back to
    assert not hasattr(model, SERVED)

    class Stuck:  # transformers only warns when a model cannot change its kernel
        def __init__(self) -> None:
            self.config = type("Config", (), {"_attn_implementation": "sdpa"})()

        def set_attn_implementation(self, name: str) -> None:
            pass

    stuck = Stuck()
    train_with_eager_attention(stuck, "cpu")
    assert not hasattr(stuck, SERVED)


def test_a_lora_wrapper_evaluates_with_the_kernel_its_model_loaded_with(tiny_model: Path) -> None:
    from peft import LoraConfig, TaskType, get_peft_model

    model = _classifier(tiny_model)
    train_with_eager_attention(model, "cpu")
    wrapped = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=2, target_modules=["query", "value"]))
    with served_attention(wrapped):
        assert model.config._attn_implementation == "sdpa"
    assert model.config._attn_implementation == "eager"


def test_a_run_trains_eager_and_scores_dev_and_test_with_sdpa(intent_csv: Path, tiny_model: Path, tmp_path: Path,
                                                              monkeypatch) -> None:
    seen: list[tuple[bool, str]] = []

    def spy(model, device: str) -> None:
        train_with_eager_attention(model, "cpu")  # the CPU rule, also on a machine with a GPU
        model.register_forward_pre_hook(lambda m, args: seen.append((m.training, m.config._attn_implementation)))

    monkeypatch.setattr(train_recipe, "train_with_eager_attention", spy)
    summary = tunelab.train(data=str(intent_csv), dev=str(intent_csv), test=str(intent_csv), model=str(tiny_model),
                            output=str(tmp_path / "run"), epochs=1, batch_size=8, precision="fp32",
                            show_progress=False)
    assert {impl for training, impl in seen if training} == {"eager"}
    assert {impl for training, impl in seen if not training} == {"sdpa"}
    assert summary.manifest.metrics["test"]  # scored under sdpa, as the Predictor scores it
