"""HTTP routes of the recommender application (`tunelab.apps.recommender`): versions, recommend, similar, events,
items. Scopes: `predict` to read and recommend, `feedback` to log events, `admin` to register and to put items.

An unknown `user_id` is a 404 (`not_found`, with a hint): the caller should recommend from `liked_items` or a
`query` for a new user, rather than get a silent popularity fallback it cannot tell apart.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime

from fastapi import APIRouter

from tunelab.apps.recommender.hub import Query
from tunelab.apps.recommender.recommender import Recommendation
from tunelab.apps.recommender.registry import Event, NewItem, RecommenderVersion
from tunelab.registry import check_name
from tunelab.serving.deps import AdminCaller, FeedbackCaller, PredictCaller, ServicesDep
from tunelab.serving.policy import check_folder
from tunelab.serving.schemas import (
    ERRORS,
    InteractionsIn,
    InteractionsLogged,
    ItemsIn,
    ItemsResult,
    RecommenderList,
    RecommenderVersionOut,
    RecommendRequest,
    RecommendResponse,
    RegisterRecommenderRequest,
    SimilarRequest,
)

router = APIRouter(tags=["recommender"], responses=ERRORS)


def _version_out(version: RecommenderVersion) -> RecommenderVersionOut:
    return RecommenderVersionOut.model_validate(asdict(version))


def _response(version: RecommenderVersion, found: list[Recommendation]) -> RecommendResponse:
    return RecommendResponse.model_validate({"recommender": version.name, "version": version.version,
                                             "items": [asdict(r) for r in found]})


@router.post("/v1/recommenders/{name}/versions", status_code=201, response_model=RecommenderVersionOut)
def register(name: str, body: RegisterRecommenderRequest, services: ServicesDep,
             _caller: AdminCaller) -> RecommenderVersionOut:
    """Register a build folder (under the server's runs folder) as the next version of `name`."""
    check_name(name, "recommender name")
    folder = check_folder(services.settings, body.path, "path")
    return _version_out(services.recommenders.registry.register(folder, name))


@router.get("/v1/recommenders", response_model=RecommenderList)
def list_recommenders(services: ServicesDep, _caller: PredictCaller) -> RecommenderList:
    return RecommenderList(recommenders=[_version_out(v) for v in services.recommenders.registry.versions()])


@router.get("/v1/recommenders/{name}", response_model=RecommenderVersionOut)
def show(name: str, services: ServicesDep, _caller: PredictCaller) -> RecommenderVersionOut:
    """The newest version, with its build's evaluation table."""
    return _version_out(services.recommenders.registry.get(check_name(name, "recommender name")))


@router.post("/v1/recommenders/{name}/recommend", response_model=RecommendResponse)
async def recommend(name: str, body: RecommendRequest, services: ServicesDep,
                    _caller: PredictCaller) -> RecommendResponse:
    """Top-k items for a known user, a few liked items or a free-text query, each with its reason."""
    check_name(name, "recommender name")
    query = Query(body.user_id, tuple(body.liked_items or ()), body.query, body.k, body.exclude_seen, body.filters)
    version, found = await asyncio.get_running_loop().run_in_executor(
        None, lambda: services.recommenders.recommend(name, query, body.version))
    return _response(version, found)


@router.post("/v1/recommenders/{name}/similar", response_model=RecommendResponse)
async def similar(name: str, body: SimilarRequest, services: ServicesDep,
                  _caller: PredictCaller) -> RecommendResponse:
    """Items whose text is closest to `item_id`'s."""
    check_name(name, "recommender name")
    version, found = await asyncio.get_running_loop().run_in_executor(
        None, lambda: services.recommenders.similar(name, body.item_id, body.k, body.filters, body.version))
    return _response(version, found)


@router.post("/v1/recommenders/{name}/events", response_model=InteractionsLogged)
def events(name: str, body: InteractionsIn, services: ServicesDep, caller: FeedbackCaller) -> InteractionsLogged:
    """Log impressions, clicks, purchases... on recommended items; the next build reads them as training data."""
    check_name(name, "recommender name")
    logged = [Event(e.user_id, e.item_id, e.event, e.value,
                    datetime.fromtimestamp(e.timestamp, UTC) if e.timestamp is not None else None)
              for e in body.events]
    return InteractionsLogged(logged=services.recommenders.log_events(name, logged, caller.key_id))


@router.put("/v1/recommenders/{name}/items", response_model=ItemsResult)
async def put_items(name: str, body: ItemsIn, services: ServicesDep, _caller: AdminCaller) -> ItemsResult:
    """Add or update items without a rebuild: embedded on arrival, recommendable at once (cold start)."""
    check_name(name, "recommender name")
    items = [NewItem(i.item_id, i.text, dict(i.fields)) for i in body.items]
    added, updated = await asyncio.get_running_loop().run_in_executor(
        None, lambda: services.recommenders.put_items(name, items))
    return ItemsResult(added=added, updated=updated)
