"""Wire types of the recommender application: versions, recommend and similar, events (feedback), items."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from tunelab.serving.schemas.common import Body, Out

MAX_K = 100
MAX_BATCH = 1000  # events or items per request
FILTERS = "{field: value} on item fields; a '|'-separated field (genres) matches any part"


class RegisterRecommenderRequest(Body):
    path: str = Field(min_length=1, max_length=4096, description="A build folder under the server's runs folder")


class RecommenderVersionOut(Out):
    name: str
    version: int
    path: str
    metrics: dict[str, Any] = Field(description="The build's evaluation table: model -> Recall@10, NDCG@10, ...")
    created_at: str


class RecommenderList(Out):
    recommenders: list[RecommenderVersionOut]


class RecommendRequest(Body):
    user_id: str | None = Field(None, min_length=1, max_length=128, description="A user the build knows")
    liked_items: list[str] | None = Field(None, min_length=1, max_length=100,
                                          description="A new user's liked items, oldest first")
    query: str | None = Field(None, min_length=1, max_length=2000, description="Free text: 'light sci-fi comedy'")
    k: int = Field(10, ge=1, le=MAX_K)
    exclude_seen: bool = Field(True, description="Leave out the user's (or the liked) items")
    filters: dict[str, str] = Field(default_factory=dict, max_length=20, description=FILTERS)
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="Default: the newest")

    @model_validator(mode="after")
    def one_source(self) -> RecommendRequest:
        given = [n for n in ("user_id", "liked_items", "query") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of user_id, liked_items, query")
        return self


class SimilarRequest(Body):
    item_id: str = Field(min_length=1, max_length=128)
    k: int = Field(10, ge=1, le=MAX_K)
    filters: dict[str, str] = Field(default_factory=dict, max_length=20, description=FILTERS)
    version: int | None = Field(None, ge=1, le=2**31 - 1)


class ContributionOut(Out):
    signal: str = Field(description="text, collaborative, popularity, freshness, cold, cold text")
    value: float = Field(description="Its share of the score (the shares sum to the score)")


class RecommendationOut(Out):
    item_id: str
    text: str
    score: float
    because_of: str | None = Field(description="The user's (or liked) item this one is closest to")
    contributions: list[ContributionOut]


class RecommendResponse(Out):
    recommender: str
    version: int
    items: list[RecommendationOut]


class InteractionIn(Body):
    user_id: str = Field(min_length=1, max_length=128)
    item_id: str = Field(min_length=1, max_length=128)
    event: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
                       description="impression, click, view, purchase, like, rating, ...")
    value: float | None = Field(None, description="e.g. a rating")
    timestamp: float | None = Field(None, ge=0, le=1e11, description="Seconds since the epoch (default: now)")


class InteractionsIn(Body):
    events: list[InteractionIn] = Field(min_length=1, max_length=MAX_BATCH)


class InteractionsLogged(Out):
    logged: int


class ItemIn(Body):
    item_id: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=8000, description="The text the item is embedded from")
    fields: dict[str, str] = Field(default_factory=dict, max_length=50, description="Filterable fields")


class ItemsIn(Body):
    items: list[ItemIn] = Field(min_length=1, max_length=MAX_BATCH)


class ItemsResult(Out):
    added: int
    updated: int
