"""Recommender pages: the registered recommenders; per recommender its build's metrics against the baselines (a
chart), a user's history next to their recommendations with the reasons, and a free-text query.

Everything goes through the server's `RecommenderHub` (`services.recommenders`, as the `/v1/recommenders` routes
use it); the pages change nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Query as Param
from starlette.requests import Request
from starlette.responses import Response

from tunelab.apps.recommender.hub import Query
from tunelab.apps.recommender.recommender import Recommendation
from tunelab.errors import UsageError
from tunelab.registry import check_name
from tunelab.serving.dashboard.pages import Admin, new_router
from tunelab.serving.dashboard.web import render
from tunelab.serving.deps import services_of

router = new_router()
HISTORY_SHOWN = 20
USERS_LISTED = 500
METRICS = ("recall", "ndcg", "mrr", "coverage", "cold_recall", "cold_pool_recall")


@dataclass(frozen=True)
class Liked:
    item_id: str
    text: str


@router.get("/recommender")
def recommenders_page(request: Request, _admin: Admin) -> Response:
    versions = services_of(request).recommenders.registry.versions()
    newest = {v.name: v for v in versions}  # ordered by name, version: the last one wins
    counts = {name: sum(1 for v in versions if v.name == name) for name in newest}
    return render(request, "recommenders.html", active="recommender", rows=list(newest.values()), counts=counts)


@router.get("/recommender/{name}")
def recommender_page(request: Request, name: str, _admin: Admin, user: str = Param("", max_length=128),
                     q: str = Param("", max_length=500), k: int = Param(10, ge=1, le=50)) -> Response:
    hub = services_of(request).recommenders
    check_name(name, "recommender name")
    if "\x00" in user or "\x00" in q:
        raise UsageError("the user id or the query contains a NUL byte")
    loaded = hub.load(name)
    recommender = loaded.recommender
    user, q = user.strip(), q.strip()
    history: list[Liked] = []
    found: list[Recommendation] = []
    if user:
        with loaded.lock:
            rows = recommender.history(user)[-HISTORY_SHOWN:][::-1]
            history = [Liked(recommender.item_ids[r], recommender.texts[r]) for r in rows]
        found = hub.recommend(name, Query(user_id=user, k=k))[1]
    answers = hub.recommend(name, Query(query=q, k=k))[1] if q else []
    return render(request, "recommender.html", active="recommender", version=loaded.version, user=user, q=q, k=k,
                  users=recommender.state.user_ids[:USERS_LISTED], history=history, found=found, answers=answers,
                  table=metric_rows(loaded.version.metrics), chart_data=chart_data(loaded.version.metrics))


def metric_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model of the build's evaluation table, the metrics this page shows (missing ones as None)."""
    return [{"model": model, **{m: values.get(m) for m in METRICS}, "users": values.get("users"),
             "cold_users": values.get("cold_users")}
            for model, values in metrics.items() if isinstance(values, dict)]


def chart_data(metrics: dict[str, Any]) -> dict[str, Any]:
    rows = metric_rows(metrics)
    return {"models": [r["model"] for r in rows],
            "series": {m: [r[m] for r in rows] for m in ("recall", "ndcg", "cold_pool_recall")
                       if any(r[m] is not None for r in rows)}}
