"""LoRA, AdaLoRA and the linear probe: what each must really do."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

import tunelab

COMMON = dict(epochs=12, batch_size=4, warmup_ratio=0.0, patience=0, precision="fp32", show_progress=False)


def test_lora_saves_adapter_with_head_and_merged_model(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    run = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "lora"),
                        method="lora", lr=5e-3, **COMMON).run_dir
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    adapter_keys = load_file(str(run / "adapter" / "adapter_model.safetensors")).keys()
    assert any("classifier" in k for k in adapter_keys), "task head not saved with the adapter"
    merged = tunelab.load(run)
    labels = merged.manifest.labels
    base = AutoModelForSequenceClassification.from_pretrained(
        str(tiny_model), num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)})
    with_adapter = PeftModel.from_pretrained(base, str(run / "adapter")).eval()
    batch = merged.tokenizer(["please refund my order", "where is my parcel"], padding=True, return_tensors="pt")
    with torch.no_grad():
        a = merged.model(**batch).logits
        b = with_adapter(**batch).logits
    assert torch.allclose(a, b, atol=1e-4)


def test_adalora_reallocates_ranks_during_training(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    run = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "ada"),
                        method="adalora", lr=1e-2, lora_r=8, adalora_target_r=2, **COMMON).run_dir
    import json

    config = json.loads((run / "adapter" / "adapter_config.json").read_text())
    pattern = config.get("rank_pattern") or {}
    assert pattern, "AdaLoRA never produced a rank pattern: update_and_allocate did not run"
    kept = [sum(mask) for mask in pattern.values()]
    assert min(kept) < 8, "no rank was pruned"


def test_probe_freezes_the_encoder(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    run = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "probe"),
                        method="probe", lr=1e-2, **COMMON).run_dir
    before = load_file(str(tiny_model / "model.safetensors"))
    after = load_file(str(run / "model.safetensors"))
    key = next(k for k in before if "encoder.layer.0.attention.self.query.weight" in k)
    after_key = next(k for k in after if k.endswith(key))
    assert torch.equal(before[key], after[after_key])
    head = next(k for k in after if k.startswith("classifier."))
    assert head


def test_token_budget_training_runs_the_planned_steps(intent_csv: Path, tiny_model: Path, tmp_path: Path) -> None:
    run = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / "budget"),
                        max_tokens=16, lr=5e-3, **{**COMMON, "epochs": 2})
    n = run.manifest.splits["train"]["examples"]
    # batch 4 would take 2 * ceil(n / 4) steps; a 16-token budget holds at most 2 of these 6-10 token texts
    assert run.manifest.timings["steps"] >= 2 * ((n + 1) // 2) > 2 * ((n + 3) // 4)
    import yaml

    assert yaml.safe_load((run.run_dir / "config.yaml").read_text())["train"]["max_tokens"] == 16


def test_frozen_word_embeddings_stay_put_while_the_rest_trains(intent_csv: Path, tiny_model: Path,
                                                               tmp_path: Path) -> None:
    import yaml

    before = load_file(str(tiny_model / "model.safetensors"))
    word = next(k for k in before if k.endswith("embeddings.word_embeddings.weight"))
    layer = next(k for k in before if k.endswith("encoder.layer.0.attention.self.query.weight"))
    moved = {}
    for mode in ("freeze", "train"):
        run = tunelab.train(data=str(intent_csv), model=str(tiny_model), output=str(tmp_path / mode),
                            word_embeddings=mode, lr=5e-3, **{**COMMON, "epochs": 2}).run_dir
        after = load_file(str(run / "model.safetensors"))
        moved[mode] = (not torch.equal(before[word], after[next(k for k in after if k.endswith(word))]),
                       not torch.equal(before[layer], after[next(k for k in after if k.endswith(layer))]))
        assert yaml.safe_load((run / "config.yaml").read_text())["train"]["word_embeddings"] == mode
    assert moved == {"freeze": (False, True), "train": (True, True)}
