"""API key routes (admin): create (the secret shown once), list with usage counters, show, revoke."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from tunelab.serving.deps import AdminCaller, ServicesDep
from tunelab.serving.schemas import ERRORS, KeyCreated, KeyCreateRequest, KeyList, KeyOut

router = APIRouter(tags=["keys"], responses=ERRORS)


@router.post("/v1/keys", status_code=201, response_model=KeyCreated)
def create_key(body: KeyCreateRequest, services: ServicesDep, caller: AdminCaller) -> KeyCreated:
    """Create an API key. The key is in this response only: store it now."""
    info, token = services.store.create_key(body.name, body.scopes, rate_per_s=body.rate_per_s, burst=body.burst,
                                            actor=caller.key_name)
    return KeyCreated(key=token, id=info.id, name=info.name, scopes=list(info.scopes))


@router.get("/v1/keys", response_model=KeyList)
def list_keys(services: ServicesDep, _caller: AdminCaller) -> KeyList:
    """Keys with their usage counters (never the keys themselves, nor their hashes)."""
    services.usage.flush()
    return KeyList(keys=[KeyOut.model_validate(asdict(k)) for k in services.store.list_keys()])


@router.get("/v1/keys/{key_id}", response_model=KeyOut)
def show_key(key_id: str, services: ServicesDep, _caller: AdminCaller) -> KeyOut:
    services.usage.flush()
    return KeyOut.model_validate(asdict(services.store.get_key(key_id)))


@router.delete("/v1/keys/{key_id}", response_model=KeyOut)
def revoke_key(key_id: str, services: ServicesDep, caller: AdminCaller) -> KeyOut:
    info = services.store.revoke_key(key_id, actor=caller.key_name)
    services.auth.forget(info.id)
    return KeyOut.model_validate(asdict(info))
