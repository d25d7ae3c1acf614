"""A challenger's shadow or canary stage: opened when it passes the golden set, settled after its live traffic.

    shadow  the server also runs the challenger on the champion's live requests (after answering; the caller
            always gets the champion's answer) and keeps its answers by prediction id
    canary  the challenger answers `canary_share` of the callers through the model's A/B split

After `stage_requests` live predictions (or `stage_hours`), the next `loop run` settles it. The rule, in order:
refuse when the champion's alias moved during the stage, when no live prediction was seen, when (shadow) the
agreement with the champion is below `min_agreement`, or when on the stage's predictions with feedback the
challenger's accuracy is more than `max_feedback_drop` points below the champion's (shadow: the same predictions,
each judged for both answers; canary: each model's own predictions since the stage began); else promote.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from tunelab.artifacts.files import write_json_atomic
from tunelab.loop.decide import Decision
from tunelab.loop.policy import LoopPolicy, PromotionPolicy
from tunelab.loop.records import PROMOTED, REFUSED, DecisionRow, get_decision, record_decision
from tunelab.loop.shadow import ShadowReport, agreement_report
from tunelab.loop.stages import (
    CANARY,
    SHADOW,
    Judged,
    Shadowed,
    Stage,
    close_stage,
    labels_given,
    open_stage,
    seen,
    shadowed,
)
from tunelab.registry import Store
from tunelab.tasks import Task, get_task

REPORT = "stage.json"


@dataclass(frozen=True)
class StageProgress:
    stage: Stage
    seen: int
    ready: bool
    why: str  # "shadow of v2: 57 of 200 live predictions"


@dataclass(frozen=True)
class StageReport:
    """What the stage saw: live predictions, the agreement (shadow) and the feedback on both models."""

    kind: str
    seen: int
    shadow: ShadowReport | None
    champion_feedback: Judged
    challenger_feedback: Judged


def begin_stage(store: Store, policy: LoopPolicy, staged: DecisionRow) -> Stage:
    """Open the stage for the challenger of the `staged` decision; a canary sets the model's A/B split (replacing
    any split it had)."""
    rules = policy.promotion
    assert staged.challenger_version is not None  # a staged decision always has one
    share = rules.canary_share if rules.stage == CANARY else (rules.shadow_share if rules.shadow_share < 1 else None)
    stage = open_stage(store, model=policy.model, alias=rules.alias, kind=rules.stage,
                       champion_version=staged.champion_version, challenger_version=staged.challenger_version,
                       requests=rules.stage_requests, hours=rules.stage_hours, share=share, decision_id=staged.id)
    if rules.stage == CANARY and share is not None:
        store.set_split(policy.model, {stage.champion_version: 1.0 - share, stage.challenger_version: share},
                        actor="loop")
    return stage


def stage_progress(store: Store, stage: Stage, now: datetime | None = None) -> StageProgress:
    """How far the stage is: ready once it saw its requests, or once its hours have passed."""
    count = seen(store, stage)
    expired = stage.expired(now or datetime.now(UTC))
    why = f"{stage.kind} of v{stage.challenger_version}: {count} of {stage.requests} live predictions"
    if expired and count < stage.requests:
        why += f", {stage.hours:g} h passed"
    return StageProgress(stage, count, count >= stage.requests or expired, why)


def stage_report(store: Store, stage: Stage, task: Task) -> StageReport:
    count = seen(store, stage)
    if stage.kind != SHADOW:  # feedback on each version's predictions since the stage began (newest per prediction)
        counts = store.feedback_counts(stage.model, since=stage.started_at)
        return StageReport(stage.kind, count, None, Judged(*counts.get(stage.champion_version, (0, 0))),
                           Judged(*counts.get(stage.challenger_version, (0, 0))))
    rows = shadowed(store, stage)
    pairs = [(r.prediction_id, r.text or "", task.read_output(r.champion), task.read_output(r.challenger))
             for r in rows]
    champion, challenger = _paired_feedback(store, task, rows)
    return StageReport(stage.kind, count, agreement_report(pairs), champion, challenger)


def _paired_feedback(store: Store, task: Task, rows: list[Shadowed]) -> tuple[Judged, Judged]:
    """Both answers judged against the labels given on the shadowed predictions."""
    labels = labels_given(store, [r.prediction_id for r in rows])
    old = new = 0
    for r in rows:
        if r.prediction_id in labels:
            old += task.feedback_agrees(task.read_output(r.champion), labels[r.prediction_id])
            new += task.feedback_agrees(task.read_output(r.challenger), labels[r.prediction_id])
    return Judged(old, len(labels)), Judged(new, len(labels))


def judge_stage(report: StageReport, rules: PromotionPolicy, champion_now: int | None, stage: Stage) -> Decision:
    """The rule of the module docstring."""
    if champion_now != stage.champion_version:
        return Decision(False, f"the champion changed during the {stage.kind} ({stage.alias} -> v{champion_now}, "
                               f"was v{stage.champion_version})")
    if report.seen == 0:
        return Decision(False, f"no live predictions in the {stage.kind} stage")
    shadow = report.shadow
    if shadow is not None and shadow.agreement < rules.min_agreement:
        return Decision(False, f"agreement with the champion on {shadow.texts} live predictions is "
                               f"{100 * shadow.agreement:.1f}%, below {100 * rules.min_agreement:.1f}%")
    old, new = report.champion_feedback.accuracy, report.challenger_feedback.accuracy
    if old is not None and new is not None and 100 * (old - new) > rules.max_feedback_drop:
        return Decision(False, f"feedback accuracy in the {stage.kind} dropped: {100 * old:.1f} -> {100 * new:.1f} "
                               f"(more than {rules.max_feedback_drop:g} points)")
    said = f"agreement {100 * shadow.agreement:.1f}% on {shadow.texts}" if shadow else f"{report.seen} answered"
    feedback = f"feedback accuracy {_pct(old)} -> {_pct(new)}" if old is not None or new is not None \
        else "no feedback judged"
    return Decision(True, f"passed the {stage.kind}: {said} live predictions; {feedback}")


def settle_stage(store: Store, policy: LoopPolicy, stage: Stage) -> DecisionRow:
    """Promote or refuse the stage's challenger: move the alias (promoted), remove a canary's split, close the
    stage, write stage.json beside the staged decision's report and record the decision."""
    staged = get_decision(store, stage.decision_id)
    task = get_task(store.get_version(stage.model, stage.champion_version).task)
    report = stage_report(store, stage, task)
    decision = judge_stage(report, policy.promotion, store.get_model(stage.model).aliases.get(stage.alias), stage)
    if decision.promote:
        store.set_alias(stage.model, stage.alias, stage.challenger_version, actor="loop")
    if stage.kind == CANARY:
        store.set_split(stage.model, {}, actor="loop")
    outcome = PROMOTED if decision.promote else REFUSED
    close_stage(store, stage.id, outcome)
    path = Path(staged.report_path).parent / REPORT
    write_json_atomic(path, {"model": stage.model, "decision": outcome,
                             "reason": decision.reason, "stage": _stage_dict(stage), "report": asdict(report),
                             "staged_report": staged.report_path,
                             "created_at": datetime.now(UTC).isoformat(timespec="seconds")})
    summary = {**staged.summary, "stage": stage.kind, "stage_seen": report.seen,
               "shadow_agreement": report.shadow.agreement if report.shadow else None,
               "champion_feedback_accuracy": report.champion_feedback.accuracy,
               "challenger_feedback_accuracy": report.challenger_feedback.accuracy}
    return record_decision(store, DecisionRow(
        0, stage.model, stage.alias, stage.champion_version, stage.challenger_version, outcome, decision.reason,
        summary, str(path), staged.last_feedback_id, datetime.now(UTC)))


def _stage_dict(stage: Stage) -> dict[str, object]:
    return {**asdict(stage), "started_at": stage.started_at.isoformat(timespec="seconds"), "ended_at": None}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"
