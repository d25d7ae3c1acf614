#!/usr/bin/env python
"""Probe (issue 14): can a different training head give the hand-off a better out-of-scope score? The shipped
classifier reads BERT's [CLS] pooler through a linear layer trained with LogitNorm, and the best single score is the
cosine distance of a question's last-layer token mean to its nearest training question (AUROC 0.938). This probe
trains the bundled MiniLM in one small, visible loop with one of these heads and scores the benchmark's test split:

- `linear`: a linear layer + LogitNorm (tau 0.04), TuneLab's loss for 20 or more classes;
- `sngp`: SNGP's output layer (Liu et al. 2020): LayerNorm, D fixed random Fourier features cos(xW + b) with
  W ~ N(0, 1 / (scale^2 d)), a linear layer, cross-entropy; after training the Laplace covariance
  (ridge I + Phi^T Phi)^-1 on the training questions gives a predictive variance and mean-field logits;
- `cosface`: a cosine classifier with CosFace's margin (LMCL, Lin and Xu 2019, for unknown intents): s (cos - m) at
  the gold class, s = 30, m = 0.35.

Each head reads the masked token mean of the last layer, or with `-cls` the [CLS] pooler (as the shipped
classifier does); the distance scores (Mahalanobis, nearest, kNN) always use the token mean, as the build does.
Same training questions as the benchmark's build (its calibration plan re-drawn with seed 42), the official test
split with the same 10 unseen intents; AdamW, 6 epochs, batch 32, lr 2e-4, 6% warm-up, bf16 autocast where the CPU
has it, the model's own dropout. About 15 minutes a head on 2 cores.

    .venv/bin/python benchmarks/probe_ood_training.py sngp [--features 1024 --scale 0.5]
    .venv/bin/python benchmarks/probe_ood_training.py linear-cls
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from bench_assistant import banking77_split, cpu_info, write_kb  # noqa: E402  (the benchmark's split)
from probe_ood_ceiling import distance_scores, recall_at  # noqa: E402  (the same scores, exact recall)

HEADS = ("linear", "sngp", "cosface")
LR, BATCH, SEED, EPOCHS, MAX_LENGTH = 2e-4, 32, 0, 6, 64
COS_S, COS_M = 30.0, 0.35
LOGIT_NORM_TAU = 0.04
OUT = BENCH / "results" / "assistant-ood-training.json"


def build_net(path: Path, classes: int, head: str, cls: bool, features: int, scale: float) -> Any:
    import torch
    from transformers import AutoModel

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = AutoModel.from_pretrained(path)
            d = self.enc.config.hidden_size
            if head == "linear":
                self.out = torch.nn.Linear(d, classes)
            elif head == "cosface":
                self.weight = torch.nn.Parameter(torch.randn(classes, d) * 0.02)
            else:
                self.norm = torch.nn.LayerNorm(d)
                g = torch.Generator().manual_seed(1)
                self.register_buffer("w", torch.randn(d, features, generator=g) / (scale * math.sqrt(d)))
                self.register_buffer("b", torch.rand(features, generator=g) * 2 * math.pi)
                self.out = torch.nn.Linear(features, classes)

        def both(self, ids: Any, mask: Any) -> tuple[Any, Any]:
            """(token mean, the head's input)."""
            out = self.enc(input_ids=ids, attention_mask=mask)
            m = mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
            mean = (out.last_hidden_state * m).sum(1) / m.sum(1)
            return mean, (out.pooler_output if cls else mean)

        def phi(self, x: Any) -> Any:
            return torch.cos(self.norm(x.float()) @ self.w + self.b)

        def cosine(self, x: Any) -> Any:
            unit = torch.nn.functional.normalize
            return unit(x.float(), dim=-1) @ unit(self.weight, dim=-1).T

        def logits(self, x: Any) -> Any:
            if head == "cosface":
                return self.cosine(x)
            return self.out((self.phi(x) if head == "sngp" else x).float())

    return Net()


def main(argv: list[str]) -> int:
    import numpy as np
    import torch
    from scipy.special import logsumexp, softmax
    from sklearn.metrics import roc_auc_score
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    from tunelab.apps.assistant.build import BuildOptions, plan_calibration
    from tunelab.apps.assistant.kb import OUT_OF_SCOPE, load_kb
    from tunelab.models.resolve import resolve_model_path
    from tunelab.training.logit_norm import logit_norm_loss
    from tunelab.training.precision import cpu_has_bf16

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("head", choices=[*HEADS, *(f"{h}-cls" for h in HEADS)])
    parser.add_argument("--features", type=int, default=1024, help="sngp: random Fourier features")
    parser.add_argument("--scale", type=float, default=0.5, help="sngp: kernel length scale (unit-norm inputs)")
    parser.add_argument("--limit", type=int, help="a check of the probe itself: the first N training and test "
                                                   "questions, nothing written")
    args = parser.parse_args(argv)
    head, cls = args.head.removesuffix("-cls"), args.head.endswith("-cls")
    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    bf16 = cpu_has_bf16()

    train_all, test, unseen = banking77_split()
    kb_path = BENCH / "work" / "probe-ood-training-kb.yaml"
    kb_path.parent.mkdir(parents=True, exist_ok=True)
    write_kb(kb_path, [(t, label) for t, label in train_all if label not in unseen], None, [])
    plan = plan_calibration(load_kb(kb_path), BuildOptions(name="probe", seed=42))
    train = [(t, label) for t, label in plan.train if label != OUT_OF_SCOPE]
    if args.limit:
        train, test = train[:args.limit], test[:args.limit]
    labels = sorted({label for _, label in train})
    index = {label: i for i, label in enumerate(labels)}
    path = resolve_model_path("minilm")
    tokenizer = AutoTokenizer.from_pretrained(path)
    net = build_net(path, len(labels), head, cls, args.features, args.scale)

    def encode(texts: list[str]) -> list[list[int]]:
        return [tokenizer(t, truncation=True, max_length=MAX_LENGTH)["input_ids"] for t in texts]

    def pad(rows: list[list[int]]) -> tuple[Any, Any]:
        ids = torch.zeros(len(rows), max(len(r) for r in rows), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
            mask[i, :len(r)] = 1
        return ids, mask

    x = encode([t for t, _ in train])
    y = torch.tensor([index[label] for _, label in train])
    steps = EPOCHS * math.ceil(len(x) / BATCH)
    optimiser = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimiser, int(0.06 * steps), steps)
    started = time.time()
    order_rng = random.Random(SEED)
    for epoch in range(EPOCHS):
        net.train()
        order = list(range(len(x)))
        order_rng.shuffle(order)
        total = 0.0
        for s in range(0, len(order), BATCH):
            rows = order[s:s + BATCH]
            ids, mask = pad([x[i] for i in rows])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = net.logits(net.both(ids, mask)[1])
            target = y[rows]
            if head == "cosface":
                margin = torch.nn.functional.one_hot(target, logits.shape[1]) * COS_M
                loss = torch.nn.functional.cross_entropy(COS_S * (logits - margin), target)
            elif head == "linear":
                loss = logit_norm_loss(logits, target, LOGIT_NORM_TAU)
            else:
                loss = torch.nn.functional.cross_entropy(logits.float(), target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(rows)
        print(f"epoch {epoch + 1}/{EPOCHS}: loss {total / len(x):.4f}, {time.time() - started:.0f} s", flush=True)

    net.eval()

    @torch.no_grad()
    def infer(texts: list[str]) -> tuple[Any, Any, Any]:
        """(logits, token means, random features or None) in float64/float32 numpy."""
        encoded = encode(texts)
        logits, means, phis = [], [], []
        for s in range(0, len(encoded), 128):
            ids, mask = pad(encoded[s:s + 128])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                mean, inputs = net.both(ids, mask)
            mean, inputs = mean.float(), inputs.float()
            if head == "sngp":
                phis.append(net.phi(inputs))
                logits.append(net.out(phis[-1]))
            else:
                logits.append(net.logits(inputs) * (COS_S if head == "cosface" else 1.0))
            means.append(mean)
        return (torch.cat(logits).numpy().astype(np.float64), torch.cat(means).numpy(),
                torch.cat(phis).numpy().astype(np.float64) if phis else None)

    _, train_means, train_phi = infer([t for t, _ in train])
    test_logits, test_means, test_phi = infer([t for t, _ in test])
    gold = np.array([OUT_OF_SCOPE if label in unseen else label for _, label in test], dtype=object)
    is_oos = gold == OUT_OF_SCOPE
    correct = (np.array([labels[i] for i in test_logits.argmax(1)], dtype=object) == gold) & ~is_oos

    def top_probability(z: Any) -> Any:
        return softmax(z, axis=1).max(1)

    def row(values: Any) -> dict[str, float]:
        values = np.asarray(values, dtype=np.float64)
        return {"auroc": round(float(roc_auc_score(is_oos, values)), 4),
                "recall_at_acc_0.90": recall_at(values, is_oos, correct)}

    distances = distance_scores(train_means, [label for _, label in train], test_means)
    scores = {"msp": -top_probability(test_logits), "energy": -logsumexp(test_logits, axis=1),
              "mahalanobis": distances["mahalanobis"], "nearest": distances["nearest"], "knn10": distances["knn"]}
    if head == "sngp":
        for ridge in (1.0, 1e-2):
            covariance = np.linalg.inv(train_phi.T @ train_phi + ridge * np.eye(args.features))
            variance = ((test_phi @ covariance) * test_phi).sum(1)
            scores[f"gp_variance_ridge{ridge:g}"] = variance
            for lam in (math.pi / 8, 1.0):
                scores[f"mean_field_msp_ridge{ridge:g}_lam{lam:.2f}"] = -top_probability(
                    test_logits / np.sqrt(1 + lam * variance)[:, None])
    result = {"command": f"python benchmarks/probe_ood_training.py {' '.join(argv)}", "cpu": cpu_info(),
              "head": head, "head_input": "[CLS] pooler" if cls else "token mean", "precision": "bf16" if bf16
              else "fp32", **({"rff_features": args.features, "scale": args.scale} if head == "sngp" else {}),
              "epochs": EPOCHS, "lr": LR, "train": len(train), "test": len(test),
              "seconds": round(time.time() - started),
              "in_scope_accuracy_nothing_handed_off": round(float(correct.sum() / (~is_oos).sum()), 4),
              "scores": {name: row(v) for name, v in scores.items()}}
    if not args.limit:
        runs = json.loads(OUT.read_text(encoding="utf-8")) if OUT.is_file() else {}
        runs[args.head] = result
        OUT.write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
