"""Model registry routes: list and show models, register versions, aliases (promote, rollback), A/B splits."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query
from fastapi import Path as FastPath

from tunelab.errors import UsageError
from tunelab.registry import check_name
from tunelab.registry.abstats import ab_report
from tunelab.registry.store import MAX_VERSION
from tunelab.serving.deps import AdminCaller, PredictCaller, ServicesDep
from tunelab.serving.policy import check_folder
from tunelab.serving.schemas import (
    ERRORS,
    ABReportOut,
    AliasHistory,
    AliasRequest,
    ModelList,
    ModelOut,
    RegisterRequest,
    SplitOut,
    SplitRequest,
    VersionDetail,
    VersionOut,
)

router = APIRouter(tags=["models"], responses=ERRORS)


@router.get("/v1/models", response_model=ModelList)
def list_models(services: ServicesDep, _caller: PredictCaller) -> ModelList:
    return ModelList.model_validate({"models": [asdict(m) for m in services.store.list_models()]})


@router.get("/v1/models/{name}", response_model=ModelOut)
def show_model(name: str, services: ServicesDep, _caller: PredictCaller) -> ModelOut:
    return ModelOut.model_validate(asdict(services.store.get_model(check_name(name))))


@router.get("/v1/models/{name}/versions/{version}", response_model=VersionDetail)
def show_version(name: str, services: ServicesDep, _caller: PredictCaller,
                 version: int = FastPath(ge=1, le=MAX_VERSION)) -> VersionDetail:
    info = services.store.get_version(check_name(name), version)
    return VersionDetail.model_validate({**asdict(info), "manifest": _manifest(info.run_path)})


@router.post("/v1/models/{name}/versions", status_code=201, response_model=VersionOut)
def register(name: str, body: RegisterRequest, services: ServicesDep, caller: AdminCaller) -> VersionOut:
    """Register a finished run folder (on the server's disk) as the next version of `name`."""
    run = check_folder(services.settings, body.run_path)
    info = services.admin.register(run, check_name(name), alias=body.alias, description=body.description,
                                   actor=caller.key_name)
    return VersionOut.model_validate(asdict(info))


@router.put("/v1/models/{name}/aliases/{alias}", response_model=VersionOut)
def set_alias(name: str, alias: str, body: AliasRequest, services: ServicesDep, caller: AdminCaller) -> VersionOut:
    """Point an alias (e.g. `production`) at a version: promote."""
    info = services.admin.set_alias(check_name(name), alias, body.version, actor=caller.key_name)
    return VersionOut.model_validate(asdict(info))


@router.post("/v1/models/{name}/aliases/{alias}/rollback", response_model=VersionOut)
def rollback(name: str, alias: str, services: ServicesDep, caller: AdminCaller) -> VersionOut:
    """Move an alias back to the version it pointed at before its last move."""
    info = services.admin.rollback(check_name(name), alias, actor=caller.key_name)
    return VersionOut.model_validate(asdict(info))


@router.get("/v1/models/{name}/aliases", response_model=AliasHistory)
def alias_history(name: str, services: ServicesDep, _caller: PredictCaller) -> AliasHistory:
    return AliasHistory(aliases=services.store.get_model(check_name(name)).aliases,
                        history=services.store.alias_history(name))  # type: ignore[arg-type]


@router.get("/v1/models/{name}/split", tags=["ab"], response_model=SplitOut)
def get_split(name: str, services: ServicesDep, _caller: AdminCaller) -> SplitOut:
    services.store.get_model(check_name(name))
    return SplitOut(weights=services.store.get_split(name))


@router.put("/v1/models/{name}/split", tags=["ab"], response_model=SplitOut)
def put_split(name: str, body: SplitRequest, services: ServicesDep, caller: AdminCaller) -> SplitOut:
    """Split traffic between versions by weight (sticky per caller); `{}` removes the split."""
    try:
        weights = {int(k): float(w) for k, w in body.weights.items()}
    except ValueError:
        raise UsageError("split keys must be version numbers, e.g. {\"3\": 0.9, \"4\": 0.1}") from None
    services.admin.set_split(check_name(name), weights, actor=caller.key_name)
    return SplitOut(weights=services.store.get_split(name))


@router.get("/v1/models/{name}/ab-report", tags=["ab"], response_model=ABReportOut)
def get_ab_report(name: str, services: ServicesDep, _caller: AdminCaller, alpha: float = Query(0.05, gt=0, lt=1),
                  min_samples: int = Query(30, ge=1)) -> ABReportOut:
    """Accuracy per version on feedback, confidence intervals, and whether the difference is significant."""
    services.store.get_model(check_name(name))  # 404 for an unknown model
    counts = services.store.feedback_counts(name)
    split = services.store.get_split(name)
    for version in split:
        counts.setdefault(version, (0, 0))
    report = ab_report(name, counts, split or None, alpha=alpha, min_samples=min_samples)
    return ABReportOut.model_validate(asdict(report))


def _manifest(run_path: str) -> dict[str, Any]:
    """The run's manifest as JSON through the one typed reader; {} when it is missing or unreadable."""
    from tunelab.artifacts.manifest import read_manifest

    manifest = read_manifest(run_path)
    return manifest.to_json() if manifest is not None else {}
