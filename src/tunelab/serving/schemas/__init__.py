"""The one wire schema: pydantic request and response bodies of every /v1 route, imported by the SDK too.

Pure pydantic (no FastAPI, no torch), so `tunelab.client` can import it. One module per resource.
"""

from tunelab.serving.schemas.assistant import (
    AskRequest,
    AssistantList,
    AssistantReply,
    AssistantVersionOut,
    ConversationOut,
    HandoffList,
    HandoffOut,
    RegisterAssistantRequest,
    ResolveRequest,
    SuggestionOut,
    TurnOut,
)
from tunelab.serving.schemas.common import ERRORS, Body, ErrorOut, HealthOut, Out, ReadyOut, StatusOut
from tunelab.serving.schemas.explain import (
    ExplainedSpanOut,
    ExplainMethod,
    ExplainRequest,
    ExplainResponse,
    ExplanationOut,
    TokenScoreOut,
)
from tunelab.serving.schemas.keys import KeyCreated, KeyCreateRequest, KeyList, KeyOut, KeyUsage
from tunelab.serving.schemas.models import (
    ABReportOut,
    AliasEvent,
    AliasHistory,
    AliasRequest,
    ArmOut,
    FeedbackList,
    FeedbackOut,
    FeedbackRequest,
    LoggedPrediction,
    LoggedPredictionDetail,
    ModelList,
    ModelOut,
    PredictionList,
    PredictionOut,
    PredictRequest,
    PredictResponse,
    RegisterRequest,
    SpanIn,
    SpanOut,
    SplitOut,
    SplitRequest,
    VersionDetail,
    VersionOut,
)
from tunelab.serving.schemas.monitor import (
    AggregateList,
    AggregateOut,
    AlertDetail,
    AlertList,
    AlertOut,
    DeliveryOut,
    EventIn,
    EventsIn,
    EventsResult,
    MonitorDefined,
    MonitorIn,
    MonitorList,
    MonitorOut,
)
from tunelab.serving.schemas.recommender import (
    ContributionOut,
    InteractionIn,
    InteractionsIn,
    InteractionsLogged,
    ItemIn,
    ItemsIn,
    ItemsResult,
    RecommendationOut,
    RecommenderList,
    RecommenderVersionOut,
    RecommendRequest,
    RecommendResponse,
    RegisterRecommenderRequest,
    SimilarRequest,
)

__all__ = [
    "ERRORS", "ABReportOut", "AggregateList", "AggregateOut", "AlertDetail", "AlertList", "AlertOut", "AliasEvent",
    "AliasHistory", "AliasRequest", "ArmOut", "AskRequest", "AssistantList", "AssistantReply", "AssistantVersionOut",
    "Body", "ContributionOut", "ConversationOut", "DeliveryOut", "ErrorOut", "EventIn", "EventsIn", "EventsResult",
    "FeedbackList", "FeedbackOut", "FeedbackRequest", "HandoffList", "HandoffOut", "HealthOut", "InteractionIn",
    "InteractionsIn", "InteractionsLogged", "ItemIn", "ItemsIn", "ItemsResult", "KeyCreateRequest", "KeyCreated",
    "KeyList", "KeyOut", "KeyUsage", "LoggedPrediction", "LoggedPredictionDetail", "ModelList", "ModelOut",
    "MonitorDefined", "MonitorIn", "MonitorList", "MonitorOut", "Out", "PredictRequest", "PredictResponse",
    "PredictionList", "PredictionOut", "ReadyOut", "RecommendRequest", "RecommendResponse", "RecommendationOut",
    "RecommenderList", "RecommenderVersionOut", "RegisterAssistantRequest", "RegisterRecommenderRequest",
    "RegisterRequest", "ResolveRequest", "SimilarRequest", "SpanIn", "SpanOut", "SplitOut", "SplitRequest",
    "StatusOut", "SuggestionOut", "TurnOut", "VersionDetail", "VersionOut",
    "ExplainMethod", "ExplainRequest", "ExplainResponse", "ExplainedSpanOut", "ExplanationOut", "TokenScoreOut",
]
