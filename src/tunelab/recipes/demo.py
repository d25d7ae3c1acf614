"""The demo: train an intent classifier on the bundled support tickets, report, answer sample questions.

`lang="en"`: the Northwind tickets (24 intents) on the default English model; `lang="zh"`: the Beifeng tickets
in Chinese (10 intents, demo_data/zh) on `multilingual` (multilingual-e5-small) unless a model is given."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from tunelab.config import RunConfig, load_config
from tunelab.errors import UsageError

LANGS = {"en": "", "zh": "zh"}  # language -> its folder under demo_data
DEFAULT_MODELS = {"zh": "multilingual"}  # languages the default (English) model cannot read


def demo_data_dir(lang: str = "en") -> Path:
    """The bundled demo files of `lang` ("en" or "zh")."""
    if lang not in LANGS:
        raise UsageError(f"no demo in {lang!r}", hint=f"choose one of: {', '.join(LANGS)}")
    root = Path(str(resources.files("tunelab") / "demo_data"))
    return root / LANGS[lang] if LANGS[lang] else root


def free_run_dir(wanted: Path) -> Path:
    """`wanted`, or `wanted-2`, `wanted-3`... if it is taken."""
    candidate, n = wanted, 1
    while candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = wanted.with_name(f"{wanted.name}-{n}")
    return candidate


def demo_config(output: Path, epochs: int | None = None, lang: str = "en", model: str | None = None) -> RunConfig:
    folder = demo_data_dir(lang)
    overrides = [f"data.train={folder / 'support_train.csv'}", f"data.test={folder / 'support_test.csv'}",
                 f"output={output}"]
    if model or lang in DEFAULT_MODELS:
        overrides.append(f"model.name={model or DEFAULT_MODELS[lang]}")
    if epochs:
        overrides.append(f"train.epochs={epochs}")
    return load_config(None, overrides)


def run_demo(output: Path, *, epochs: int | None = None, lang: str = "en", model: str | None = None) -> dict[str, Any]:
    from tunelab.inference import Predictor
    from tunelab.recipes.outputs import format_per_class
    from tunelab.recipes.train import run_train

    run_dir = free_run_dir(output)
    summary = run_train(demo_config(run_dir, epochs, lang, model))
    test = summary.metrics.get("test", {})
    questions = [q.strip() for q in (demo_data_dir(lang) / "sample_questions.txt").read_text(encoding="utf-8")
                 .splitlines() if q.strip()]
    predictor = Predictor.load(run_dir)
    lines = [f"\nDemo run: {run_dir}",
             f"test accuracy {test.get('accuracy', float('nan')):.4f}, macro F1 "
             f"{test.get('macro', {}).get('f1', float('nan')):.4f} on {test.get('total_support', '?')} tickets",
             "", "Weakest intents on test:", format_per_class(test, limit=5), "", "Sample questions:"]
    for question, prediction in zip(questions, predictor.predict(questions)):
        score = prediction.score  # type: ignore[union-attr]
        flag = "  <- low confidence: a human should check" if score < 0.5 else ""
        lines.append(f"  {question}\n    -> {prediction.label} ({score:.2f}){flag}")  # type: ignore[union-attr]
    lines.append(f"\nFull report: {run_dir / 'report.md'}\n")
    return {"run_dir": str(run_dir), "metrics": summary.metrics, "text": "\n".join(lines)}
