"""Per-target privacy policy routes (admin): set, show, list and delete a model's, assistant's or monitor's own
redaction policy; each write is in the audit log and drops the cached Redactors."""

from __future__ import annotations

from fastapi import APIRouter, Path

from tunelab.privacy.policies import PolicyStore, TargetPolicy
from tunelab.serving.deps import AdminCaller, ServicesDep
from tunelab.serving.schemas import ERRORS
from tunelab.serving.schemas.privacy import PolicyKind, PolicyList, PolicyOut, PolicyRequest
from tunelab.serving.services import Services, policies_changed

router = APIRouter(tags=["privacy"], responses=ERRORS)
Name = Path(min_length=1, max_length=64)


def _out(target: TargetPolicy) -> PolicyOut:
    return PolicyOut(kind=target.kind, name=target.name, types=list(target.policy.types),  # type: ignore[arg-type]
                     mode=target.policy.mode, updated_at=target.updated_at)


def _policies(services: Services) -> PolicyStore:
    assert services.redactors.policies is not None  # the server always builds them with the store
    return services.redactors.policies


@router.get("/v1/privacy/policies", response_model=PolicyList)
def list_policies(services: ServicesDep, _caller: AdminCaller) -> PolicyList:
    return PolicyList(policies=[_out(p) for p in _policies(services).list()])


@router.get("/v1/privacy/policies/{kind}/{name}", response_model=PolicyOut)
def show_policy(kind: PolicyKind, services: ServicesDep, _caller: AdminCaller, name: str = Name) -> PolicyOut:
    return _out(_policies(services).require(kind, name))


@router.put("/v1/privacy/policies/{kind}/{name}", response_model=PolicyOut)
def set_policy(kind: PolicyKind, body: PolicyRequest, services: ServicesDep, caller: AdminCaller,
               name: str = Name) -> PolicyOut:
    """Replace the server's policy for the texts stored on this target's behalf (it need not exist yet)."""
    policy = services.redactors.resolve(body.types, body.mode)  # person without an NER model: a 400 on `types`
    target = _policies(services).set(kind, name, policy, actor=caller.key_name)
    policies_changed(services)
    return _out(target)


@router.delete("/v1/privacy/policies/{kind}/{name}", response_model=PolicyOut)
def delete_policy(kind: PolicyKind, services: ServicesDep, caller: AdminCaller, name: str = Name) -> PolicyOut:
    """Back to the server's policy for this target."""
    target = _policies(services).delete(kind, name, actor=caller.key_name)
    policies_changed(services)
    return _out(target)
