"""run_loop: the closed loop for one model, top to bottom.

champion (the policy's alias) -> its config.yaml -> base training file + corrections, golden texts left out
-> train the challenger with the champion's config -> register it -> both models on the golden set (decisive)
and on the recent corrections (reported) -> promote or refuse -> decision.json in the loop folder + a registry row.

With `promotion.stage` shadow or canary, a challenger that passes is `staged` instead of promoted: a later run
settles its stage once the live traffic is in (`tunelab.loop.staging`), and trains nothing while it is open.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tunelab.artifacts.files import write_json_atomic
from tunelab.config import RunConfig, load_config
from tunelab.errors import NotFoundError, UsageError
from tunelab.home import home
from tunelab.loop.alerts import drift_alert_since
from tunelab.loop.dataset import (
    Correction,
    Labelled,
    MergeCounts,
    load_corrections,
    merge,
    read_labelled,
    save_merged,
)
from tunelab.loop.decide import Comparison, answer_of, compare, decide
from tunelab.loop.policy import LoopPolicy
from tunelab.loop.records import PROMOTED, REFUSED, STAGED, DecisionRow, last_decision, record_decision
from tunelab.loop.shadow import ShadowReport, logged_traffic, shadow_report
from tunelab.loop.stages import current_stage
from tunelab.loop.staging import StageProgress, begin_stage, settle_stage, stage_progress
from tunelab.registry import Store, VersionInfo
from tunelab.tasks import Task, get_task

REPORT = "decision.json"
PERIODS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


@dataclass(frozen=True)
class Due:
    due: bool
    why: str
    new_corrections: int


@dataclass(frozen=True)
class LoopOutcome:
    """What one `loop run` did: the folder, the data counts, and the decision (None: dry run or not due)."""

    folder: Path | None
    counts: MergeCounts | None
    due: Due
    decision: DecisionRow | None = None
    dry_run: bool = False
    stage: StageProgress | None = None  # the open shadow or canary stage this run looked at (settled or not)


def find_champion(store: Store, model: str, alias: str) -> VersionInfo:
    """The version `alias` points at; a model without that alias has its newest version as champion."""
    info = store.get_model(model)
    if not info.versions:
        raise NotFoundError(f"model {model!r} has no versions")
    number = info.aliases.get(alias, info.versions[-1].version)
    return next(v for v in info.versions if v.version == number)


def check_due(store: Store, policy: LoopPolicy, corrections: list[Correction], now: datetime,
              champion_version: int | None = None) -> Due:
    """Due after `every_corrections` new corrections, after a drift alert on the champion's version (`on_drift`)
    or after the schedule's period since the last decision."""
    last = last_decision(store, policy.model)
    seen = last.last_feedback_id if last else 0
    new = sum(c.feedback_id > seen for c in corrections)
    trigger = policy.trigger
    if trigger.every_corrections is not None and new >= trigger.every_corrections:
        return Due(True, f"{new} new correction(s) >= {trigger.every_corrections}", new)
    if trigger.on_drift and champion_version is not None:
        alert = drift_alert_since(store.engine, policy.model, champion_version, last.created_at if last else None)
        if alert is not None:
            return Due(True, f"drift alert {alert} on {policy.model}@{champion_version}", new)
    if trigger.schedule is not None and (last is None or now - last.created_at >= PERIODS[trigger.schedule]):
        return Due(True, f"{trigger.schedule} schedule", new)
    if trigger.every_corrections is None and trigger.schedule is None and not trigger.on_drift:
        return Due(False, "the policy retrains by hand only", new)
    return Due(False, f"{new} new correction(s) of {trigger.every_corrections or '-'} needed; "
                      f"last decision {last.created_at.isoformat() if last else 'never'}", new)


def run_loop(store: Store, policy: LoopPolicy, *, dry_run: bool = False, if_due: bool = False,
             show_progress: bool = False, settle_now: bool = False) -> LoopOutcome:
    """Run the loop once for `policy.model` (see the module docstring). `if_due`: only when the trigger says so;
    `dry_run`: build and write the merged data set and stop before training. While a stage is open, the run only
    settles it when its traffic is in, or at once with `settle_now` (nothing is trained)."""
    open_stage = current_stage(store, policy.model)
    if open_stage is not None:
        return _settle(store, policy, stage_progress(store, open_stage), dry_run, settle_now)
    champion, task, corrections, hash_only, due = _standing(store, policy)
    config = load_config(Path(champion.run_path) / "config.yaml")
    if if_due and not due.due:
        return LoopOutcome(None, None, due)
    golden = read_labelled(policy.golden, config.data)
    merged = merge(_read_base(policy, champion, config), corrections, {g.text for g in golden}, hash_only)
    folder = _new_folder(policy)
    train_path = save_merged(merged, folder / "data", task.spec, config.data)
    if dry_run:
        return LoopOutcome(folder, merged.counts, due, dry_run=True)
    if len(golden) < policy.promotion.min_golden_size:  # no decision possible: spend no training on it
        raise UsageError(f"the golden set {policy.golden} has {len(golden)} examples; the policy needs at least "
                         f"{policy.promotion.min_golden_size}", hint="label more golden examples, or lower "
                         "promotion.min_golden_size")
    challenger = _train_challenger(store, policy, champion, config, train_path, folder / "challenger",
                                   show_progress)
    on_golden = _compare(task, champion, challenger, golden, policy)
    recent = _recent(corrections, {g.text for g in golden}, policy.recent_corrections)
    on_recent = _compare(task, champion, challenger, recent, policy) if recent else None
    shadow = _shadow(store, task, policy, champion, challenger)
    row = _decide(store, policy, champion, challenger, merged.counts, on_golden, on_recent, shadow, folder)
    return LoopOutcome(folder, merged.counts, due, row)


def due_now(store: Store, policy: LoopPolicy) -> Due:
    """Whether `policy.model` is due for a retrain now (what `run_loop(if_due=True)` checks first), without
    building anything: the scheduler asks this before it starts a training process. With a stage open: due
    when its live traffic is in (the run settles it)."""
    stage = current_stage(store, policy.model)
    if stage is not None:
        progress = stage_progress(store, stage)
        return Due(progress.ready, progress.why + ("; ready to settle" if progress.ready else ""), 0)
    return _standing(store, policy)[-1]


def _settle(store: Store, policy: LoopPolicy, progress: StageProgress, dry_run: bool,
            now: bool) -> LoopOutcome:
    due = Due(progress.ready, progress.why, 0)
    if not (progress.ready or now) or dry_run:
        return LoopOutcome(None, None, due, stage=progress, dry_run=dry_run)
    return LoopOutcome(None, None, due, settle_stage(store, policy, progress.stage), stage=progress)


def _standing(store: Store, policy: LoopPolicy) -> tuple[VersionInfo, Task, list[Correction], int, Due]:
    """The champion, its task, the corrections given on it (and how many were hash-only) and whether it is due."""
    champion = find_champion(store, policy.model, policy.promotion.alias)
    task = get_task(champion.task)
    corrections, hash_only = load_corrections(store, policy.model, task, policy.source.corrections_since_version)
    return champion, task, corrections, hash_only, check_due(store, policy, corrections, datetime.now(UTC),
                                                             champion.version)


def _read_base(policy: LoopPolicy, champion: VersionInfo, config: RunConfig) -> list[Labelled]:
    base = policy.source.train or config.data.train
    if base is None or not Path(base).is_file():
        raise UsageError(f"the base training file {base!r} of {policy.model}@{champion.version} is not there",
                         hint="set source.train in the loop policy")
    return read_labelled(base, config.data)


def _shadow(store: Store, task: Task, policy: LoopPolicy, champion: VersionInfo,
            challenger: VersionInfo) -> ShadowReport | None:
    from tunelab.inference import Predictor

    logged = logged_traffic(store, policy.model, champion.version, policy.shadow_texts) if policy.shadow_texts else []
    if not logged:
        return None
    predictions = Predictor.load(challenger.run_path).predict([r["text"] for r in logged])
    return shadow_report(task, logged, predictions)


def _decide(store: Store, policy: LoopPolicy, champion: VersionInfo, challenger: VersionInfo, counts: MergeCounts,
            on_golden: Comparison, on_recent: Comparison | None, shadow: ShadowReport | None,
            folder: Path) -> DecisionRow:
    """Promote or refuse by the policy's rules; write decision.json and the registry row."""
    rules = policy.promotion
    decision = decide(on_golden, rules)
    staged = decision.promote and rules.stage != "none"
    verdict = STAGED if staged else PROMOTED if decision.promote else REFUSED
    reason = f"{decision.reason}; in {rules.stage} until {rules.stage_requests} live predictions" if staged \
        else decision.reason
    if decision.promote and not staged:
        store.set_alias(policy.model, rules.alias, challenger.version, actor="loop")
    report = _report(policy, champion, challenger, counts, on_golden, on_recent, reason, verdict)
    report["shadow"] = asdict(shadow) if shadow else None
    write_json_atomic(folder / REPORT, report)
    summary = {**_summary(on_golden, counts), "shadow_agreement": shadow.agreement if shadow else None}
    row = record_decision(store, DecisionRow(
        0, policy.model, rules.alias, champion.version, challenger.version, verdict, reason, summary,
        str(folder / REPORT), counts.last_feedback_id, datetime.now(UTC)))
    if staged:
        begin_stage(store, policy, row)
    return row


def _new_folder(policy: LoopPolicy) -> Path:
    root = Path(policy.runs_dir) if policy.runs_dir else home() / "loop" / policy.model
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder, n = root / stamp, 1
    while folder.exists():
        n += 1
        folder = root / f"{stamp}-{n}"
    folder.mkdir(parents=True)
    return folder


def _train_challenger(store: Store, policy: LoopPolicy, champion: VersionInfo, config: RunConfig, train: Path,
                      output: Path, show_progress: bool) -> VersionInfo:
    """The champion's resolved config on the merged data: dev from the policy (else carved from the merged set),
    the golden set as the run's test split (scored in its report, never trained or selected on); with
    `warm_start`, from the champion's weights."""
    from tunelab.recipes.train import run_train

    if policy.warm_start:
        config = replace(config, model=replace(config.model, name=str(Path(champion.run_path).resolve())))
    data = replace(config.data, train=str(train), dev=policy.source.dev, test=policy.golden, format=None)
    run_train(replace(config, data=data, output=str(output)), show_progress=show_progress)
    return store.register(output, policy.model, actor="loop")


def _recent(corrections: list[Correction], golden: set[str], limit: int) -> list[Labelled]:
    kept = [c for c in corrections if c.text not in golden]
    return [Labelled(c.text, c.answer) for c in kept[len(kept) - limit:]] if limit else []


def choose_test(task: Task, policy: LoopPolicy) -> str:
    """The policy's paired test; `auto`: a paired bootstrap of entity F1 for NER, McNemar mid-p otherwise."""
    if policy.promotion.test != "auto":
        return policy.promotion.test
    return "bootstrap" if task.spec.per_token else "mcnemar-midp"


def _compare(task: Task, champion: VersionInfo, challenger: VersionInfo, examples: list[Labelled],
             policy: LoopPolicy) -> Comparison:
    from tunelab.inference import Predictor

    texts = [e.text for e in examples]
    gold = [frozenset(e.answer) for e in examples]
    old = [answer_of(p) for p in Predictor.load(champion.run_path).predict(texts)]
    new = [answer_of(p) for p in Predictor.load(challenger.run_path).predict(texts)]
    return compare(gold, old, new, task.display_labels(champion.labels), choose_test(task, policy),
                   policy.promotion.bootstrap_samples)


def _summary(golden: Comparison, counts: MergeCounts) -> dict[str, Any]:
    test = golden.test
    return {"golden_examples": golden.champion.examples, "champion_accuracy": golden.champion.accuracy,
            "challenger_accuracy": golden.challenger.accuracy, "champion_f1": golden.champion.f1,
            "challenger_f1": golden.challenger.f1, "test": test.method, "statistic": test.statistic,
            "p_value": test.p_value, "detail": test.detail, "class_deltas": golden.class_deltas,
            "corrections_used": counts.corrections_used,
            "golden_excluded_corrections": counts.golden_excluded_corrections}


def _report(policy: LoopPolicy, champion: VersionInfo, challenger: VersionInfo, counts: MergeCounts,
            golden: Comparison, recent: Comparison | None, reason: str, verdict: str) -> dict[str, Any]:
    return {"model": policy.model, "decision": verdict, "reason": reason,
            "champion": {"version": champion.version, "run_path": champion.run_path},
            "challenger": {"version": challenger.version, "run_path": challenger.run_path},
            "data": asdict(counts), "golden": golden.to_dict(), "recent_corrections": recent.to_dict() if recent
            else None, "policy": asdict(policy), "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
