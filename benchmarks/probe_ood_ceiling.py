#!/usr/bin/env python
"""Probe: how far can the hand-off score go without retraining? On an assistant built by `make bench-assistant`
(Banking77, 10 unseen intents), score the official test split with features and blends the build does not use:

- every layer's token mean of the served classifier (embeddings = layer 0), and their average over layers
  ("holistic" sentence embeddings), each with Mahalanobis, relative Mahalanobis, kNN (k = 10) and nearest;
- the bundled MiniLM's sentence embeddings before fine-tuning (the FAQ encoder), alone and added to `nearest`;
- a Gaussian-process variance on random Fourier features of the last layer (SNGP's output layer fitted after
  training, without its spectral normalisation);
- the build's own blend re-fitted on the calibration split with "hand off" = out of scope or answered wrongly;
- the ceiling of the blend: the same logistic regression fitted on the test split itself (an oracle: it sees the
  labels it is scored on).

The statistics are fitted on exactly the build's training questions (its calibration plan re-drawn with its seed).

    .venv/bin/python benchmarks/probe_ood_ceiling.py [BUILD_FOLDER]   # default: the full benchmark's build
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from bench_assistant import banking77_split, cpu_info  # noqa: E402  (the benchmark's split)

RFF_FEATURES = 2048
RFF_LENGTH_SCALE = 0.5  # times the median distance between unit training features
RIDGE = 1e-3


def token_means(predictor: Any, texts: list[str]) -> Any:
    """(n, layers + 1, d): each hidden state's mean over the real tokens, in the order given."""
    import numpy as np
    import torch

    from tunelab.models.forward import padded_batches, torch_mode
    from tunelab.tasks import wrap_texts

    model = predictor._torch_model()
    encoded = predictor.task.encode(wrap_texts(predictor.task, texts), predictor.tokenizer, predictor.label_set,
                                    predictor._max_length())
    out: list[Any] = [None] * len(encoded)
    with torch_mode(model, predictor.precision.autocast()):
        for rows, ids, mask in padded_batches(encoded, 64, predictor._pad_id()):
            hidden = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                           output_hidden_states=True).hidden_states
            weights = torch.from_numpy(mask).float().unsqueeze(-1)
            pooled = torch.stack([(h.float() * weights).sum(1) / weights.sum(1) for h in hidden], 1)
            for r, i in enumerate(rows):
                out[i] = pooled[r].numpy()
    return np.stack(out)


def distance_scores(train: Any, labels: list[str], test: Any) -> dict[str, Any]:
    from tunelab.inference.outliers import fit_stats, knn_distance, mahalanobis, relative_mahalanobis

    stats = fit_stats(train, labels, pooling="mean")
    return {"mahalanobis": mahalanobis(stats, test), "relative_mahalanobis": relative_mahalanobis(stats, test),
            "knn": knn_distance(stats, test), "nearest": knn_distance(stats, test, k=1)}


def gp_variance(train: Any, test: Any, seed: int = 0) -> Any:
    """Posterior variance of a Bayesian linear model on random Fourier features (an RBF-kernel GP's)."""
    import numpy as np

    def unit(x: Any) -> Any:
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    rng = np.random.default_rng(seed)
    a, b = unit(train.astype(np.float64)), unit(test.astype(np.float64))
    pairs = rng.choice(len(a), (2, 500))
    scale = np.median(np.linalg.norm(a[pairs[0]][:, None] - a[pairs[1]][None], axis=2)) * RFF_LENGTH_SCALE
    w = rng.normal(size=(a.shape[1], RFF_FEATURES)) / scale
    phase = rng.uniform(0, 2 * np.pi, RFF_FEATURES)
    phi_a = np.sqrt(2 / RFF_FEATURES) * np.cos(a @ w + phase)
    phi_b = np.sqrt(2 / RFF_FEATURES) * np.cos(b @ w + phase)
    covariance = np.linalg.inv(phi_a.T @ phi_a + RIDGE * np.eye(RFF_FEATURES))
    return ((phi_b @ covariance) * phi_b).sum(1)


def recall_at(score: Any, is_oos: Any, correct: Any, accuracy: float = 0.90) -> float:
    """The most out-of-scope recall reachable by a threshold on `score` while in-scope accuracy stays >= accuracy
    (exact: every threshold, not a grid; a hand-off of an in-scope question counts as a wrong answer)."""
    import numpy as np

    order = np.argsort(-score, kind="stable")
    lost = np.cumsum(correct[order])
    caught = np.cumsum(is_oos[order])
    ok = (correct.sum() - lost) / (~is_oos).sum() >= accuracy
    return round(float(caught[ok].max() / is_oos.sum()) if ok.any() else 0.0, 4)


def main(argv: list[str]) -> int:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from tunelab.apps.assistant.build import BuildOptions, plan_calibration
    from tunelab.apps.assistant.index import SentenceEncoder
    from tunelab.apps.assistant.kb import OUT_OF_SCOPE
    from tunelab.apps.assistant.layout import load_kb_copy
    from tunelab.apps.assistant.ood import CLASSIFIER_COMPONENTS, Components, fit_combiner
    from tunelab.apps.assistant.router import Assistant, score_questions
    from tunelab.models.resolve import resolve_model_path

    folder = Path(argv[0]) if argv else BENCH / "work" / "assistant" / "banking77-assistant"
    if not (folder / "assistant.json").is_file():
        raise SystemExit(f"{folder} holds no built assistant: run `make bench-assistant` first")
    assistant = Assistant.load(folder)
    plan = plan_calibration(load_kb_copy(folder), BuildOptions(name="probe", seed=42))
    train = [(t, label) for t, label in plan.train if label != OUT_OF_SCOPE]
    labels = [label for _, label in train]
    _, test, unseen = banking77_split()
    texts = [t for t, _ in test]
    gold = np.array([OUT_OF_SCOPE if label in unseen else label for _, label in test], dtype=object)
    is_oos = gold == OUT_OF_SCOPE

    scores = assistant.score(texts)
    assert scores.components is not None and scores.ood is not None and assistant.ood is not None
    correct = (np.array(scores.scored().intent, dtype=object) == gold) & ~is_oos

    def row(values: Any) -> dict[str, float]:
        return {"auroc": round(float(roc_auc_score(is_oos, values)), 4),
                "recall_at_acc_0.90": recall_at(np.asarray(values, dtype=np.float64), is_oos, correct)}

    result: dict[str, Any] = {"command": "python benchmarks/probe_ood_ceiling.py", "folder": str(folder),
                              "cpu": cpu_info(), "training_questions": len(train), "test": len(test),
                              "in_scope_accuracy_nothing_handed_off": round(float(correct.sum() / (~is_oos).sum()), 4),
                              "build_blend": row(scores.ood)}
    hidden_train = token_means(assistant.classifier, [t for t, _ in train])
    hidden_test = token_means(assistant.classifier, texts)
    per_layer = [distance_scores(hidden_train[:, layer], labels, hidden_test[:, layer])
                 for layer in range(hidden_train.shape[1])]
    averaged = distance_scores(hidden_train[:, 1:].mean(1), labels, hidden_test[:, 1:].mean(1))
    result["layers"] = {**{f"layer {layer}": {name: row(v) for name, v in found.items()}
                           for layer, found in enumerate(per_layer)},
                        "mean of layers 1-last": {name: row(v) for name, v in averaged.items()}}
    last = per_layer[-1]

    encoder = SentenceEncoder.load(resolve_model_path(assistant.manifest.base_model))
    pre = distance_scores(encoder.embed([t for t, _ in train], "query"), labels, encoder.embed(texts, "query"))

    def z(values: Any) -> Any:
        return (values - values[~is_oos].mean()) / values[~is_oos].std()

    result["pretrained"] = {name: row(v) for name, v in pre.items()}
    result["nearest_plus_pretrained_nearest"] = {str(w): row(z(last["nearest"]) + w * z(pre["nearest"]))
                                                 for w in (0.25, 0.5, 1.0)}
    result["gp_variance_last_layer"] = row(gp_variance(hidden_train[:, -1], hidden_test[:, -1]))

    calibration = json.loads((folder / "calibration.json").read_text(encoding="utf-8"))["questions"]
    names = tuple(calibration[0]["components"])
    calib = Components({n: np.array([q["components"][n] for q in calibration], dtype=np.float32) for n in names})
    calib_gold = np.array([q["gold"] for q in calibration], dtype=object)
    calib_oos = calib_gold == OUT_OF_SCOPE
    wrong = ~calib_oos & (np.array([q["intent"] for q in calibration], dtype=object) != calib_gold)
    in_scope = [q["question"] for q in calibration if q["gold"] != OUT_OF_SCOPE]
    served = score_questions(in_scope, assistant.classifier, None, None, assistant.ood.stats, features=True)
    assert served.components is not None
    def blend(combiner: Any) -> dict[str, Any]:
        return {**row(combiner.score(scores.components)),
                "weights": dict(zip(combiner.names, combiner.weights.round(3).tolist()))}

    result["blends"] = {
        "out of scope (the build's)": blend(fit_combiner(calib, calib_oos).recentred(served.components,
                                                                                      CLASSIFIER_COMPONENTS)),
        "out of scope or answered wrongly": blend(fit_combiner(calib, calib_oos | wrong).recentred(
            served.components, CLASSIFIER_COMPONENTS)),
        "oracle: fitted on the test split": blend(fit_combiner(scores.components, is_oos))}
    out = BENCH / "results" / "assistant-ood-ceiling.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
