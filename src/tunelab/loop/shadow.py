"""Shadow comparison on logged traffic: the challenger re-scores texts the champion answered; agreement is reported."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunelab.loop.decide import answer_of
from tunelab.registry import Store
from tunelab.tasks import Task

SHOWN = 20  # disagreements kept in the report


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
    agree, shown = 0, []
    for row, prediction in zip(logged, challenger, strict=True):
        old = answer_of(task.read_output(row["output"]))
        new = answer_of(prediction)
        if old == new:
            agree += 1
        elif len(shown) < SHOWN:
            shown.append(Disagreement(row["id"], row["text"], sorted(old, key=str), sorted(new, key=str)))
    return ShadowReport(len(logged), round(agree / len(logged), 6) if logged else 0.0, tuple(shown))
