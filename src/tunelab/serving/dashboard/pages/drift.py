"""Drift: per registered model, the p-value of each drift check over time (`tunelab loop drift` records them in the
served version's run folder) and the drift alerts with their delivery state. The page changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from tunelab.loop.alerts import RULE
from tunelab.loop.history import DriftPoint, read_history
from tunelab.registry import ModelInfo
from tunelab.serving.dashboard.pages import Admin, new_router
from tunelab.serving.dashboard.web import render
from tunelab.serving.deps import services_of

router = new_router()
ALERTS_SHOWN = 50


@dataclass(frozen=True)
class DriftSeries:
    model: str
    version: int
    points: tuple[DriftPoint, ...]

    @property
    def latest(self) -> DriftPoint:
        return self.points[-1]


def served_version(info: ModelInfo) -> int | None:
    """The version `production` points at, else the newest."""
    return info.aliases.get("production") or (info.versions[-1].version if info.versions else None)


def drift_series(models: list[ModelInfo]) -> list[DriftSeries]:
    out = []
    for info in models:
        version = served_version(info)
        found = next((v for v in info.versions if v.version == version), None)
        points = read_history(Path(found.run_path)) if found is not None else []
        if points:
            out.append(DriftSeries(info.name, found.version, tuple(points)))  # type: ignore[union-attr]
    return out


def chart_data(series: list[DriftSeries]) -> list[dict[str, object]]:
    """What drift.js draws: per model the check times and each check's p-value (None: no p-value)."""
    return [{"name": f"{s.model}@{s.version}", "at": [p.at for p in s.points], "alpha": s.latest.alpha,
             "checks": {name: [p.p_values.get(name) for p in s.points] for name in s.latest.p_values}}
            for s in series]


@router.get("/drift")
def drift_page(request: Request, _admin: Admin) -> Response:
    state = services_of(request)
    series = drift_series(state.store.list_models())
    alerts = state.hub.store.list_alerts(rule=RULE, limit=ALERTS_SHOWN)
    return render(request, "drift.html", active="drift", series=series, chart_data=chart_data(series),
                  alerts=alerts)
