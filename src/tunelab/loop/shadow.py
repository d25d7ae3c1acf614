"""Shadow comparison: the challenger's answers beside the champion's on the same texts (logged traffic re-scored
offline, or live traffic in a shadow stage); the agreement and the first disagreements are reported."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunelab.loop.decide import answer_of
from tunelab.registry import Store
from tunelab.tasks import Task
from tunelab.types import Prediction

SHOWN = 20  # disagreements kept in the report
Pair = tuple[str, str, Prediction, Prediction]  # prediction id, text ("" when not logged), champion, challenger


@dataclass(frozen=True)
class Disagreement:
    prediction_id: str
    text: str
    champion: list[Any]
    challenger: list[Any]


@dataclass(frozen=True)
class ShadowReport:
    """How often the challenger gives the champion's logged answer on recent traffic (not decisive)."""

    texts: int
    agreement: float
    disagreements: tuple[Disagreement, ...]


def logged_traffic(store: Store, model: str, version: int, limit: int) -> list[dict[str, Any]]:
    """The champion's newest logged predictions whose text was kept."""
    rows = store.list_predictions(model=model, version=version, limit=limit)
    return [r for r in rows if r.get("text")]


def shadow_report(task: Task, logged: Sequence[dict[str, Any]], challenger: Sequence[Any]) -> ShadowReport:
    """Compare the champion's logged outputs with the challenger's predictions of the same texts."""
    return agreement_report([(row["id"], row["text"], task.read_output(row["output"]), prediction)
                             for row, prediction in zip(logged, challenger, strict=True)])


def agreement_report(pairs: Sequence[Pair]) -> ShadowReport:
    """How often the two answers say the same (label, labels or entities), with the first disagreements."""
    agree, shown = 0, []
    for prediction_id, text, champion, challenger in pairs:
        old, new = answer_of(champion), answer_of(challenger)
        if old == new:
            agree += 1
        elif len(shown) < SHOWN:
            shown.append(Disagreement(prediction_id, text, sorted(old, key=str), sorted(new, key=str)))
    return ShadowReport(len(pairs), round(agree / len(pairs), 6) if pairs else 0.0, tuple(shown))
