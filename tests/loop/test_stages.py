"""Shadow and canary stages: a challenger that passes the golden set is staged, not promoted; the next loop run
settles it once its live traffic is in (promoted with the agreement in its report, or refused with the reason);
a canary answers its share of callers through the A/B split."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import invoke_cli
from tests.loop.conftest import TRAIN, correct
from tests.loop.test_run import write_policy
from tunelab.errors import ConfigError
from tunelab.loop.policy import LoopPolicy, PromotionPolicy, load_policy, parse_policy
from tunelab.loop.records import STAGED, DecisionRow, list_decisions, record_decision
from tunelab.loop.run import due_now, run_loop
from tunelab.loop.stages import ShadowAnswer, current_stage, get_stage, record_answers, shadowed
from tunelab.loop.staging import begin_stage
from tunelab.registry import PredictionRecord, Store, choose_version


def staged_policy(tmp_path: Path, stage: str, **rules: object) -> LoopPolicy:
    promotion = PromotionPolicy(min_golden_size=18, max_class_drop=10.0, stage=stage, **rules)  # type: ignore[arg-type]
    return LoopPolicy("intents", str(tmp_path / "golden.csv"), promotion=promotion, runs_dir=str(tmp_path / "runs"))


def stage_by_hand(store: Store, policy: LoopPolicy, tmp_path: Path) -> DecisionRow:
    """v1 champion, v2 challenger staged as if the golden set had passed (no training)."""
    folder = tmp_path / "runs" / "by-hand"
    folder.mkdir(parents=True)
    (folder / "decision.json").write_text("{}", encoding="utf-8")
    row = record_decision(store, DecisionRow(0, "intents", "production", 1, 2, STAGED, "passed the golden set",
                                             {"champion_accuracy": 0.5, "challenger_accuracy": 0.9, "p_value": 0.01},
                                             str(folder / "decision.json"), 0, datetime.now(UTC)))
    begin_stage(store, policy, row)
    return row


def live(store: Store, version: int, answers: list[str]) -> list[str]:
    """Log live predictions of `version` answering these labels; returns their ids."""
    ids = [uuid.uuid4().hex for _ in answers]
    store.log_predictions([PredictionRecord(pid, "intents", version, {"label": label, "score": 0.9}, 1.0,
                                            f"live text {i}") for i, (pid, label) in enumerate(zip(ids, answers))])
    return ids


def shadow_answers(store: Store, ids: list[str], answers: list[str]) -> None:
    stage = current_stage(store, "intents")
    assert stage is not None
    record_answers(store, [ShadowAnswer(stage.id, pid, stage.challenger_version, {"label": label, "score": 0.8}, 2.0)
                           for pid, label in zip(ids, answers)])


@pytest.fixture(params=["sqlite", "postgresql"])
def two_versions(request: pytest.FixtureRequest, tmp_path: Path, good_run: Path, swapped_run: Path
                 ) -> Iterator[Store]:
    """v1 (production) and v2 of `intents`, on SQLite and on PostgreSQL (skipped when unreachable)."""
    url = f"sqlite:///{tmp_path / 'r.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    store.register(good_run, "intents", alias="production")
    store.register(swapped_run, "intents")
    try:
        yield store
    finally:
        store.close()


def test_a_challenger_in_shadow_is_promoted_after_its_quota_with_the_agreement_in_its_report(
        store: Store, swapped_run: Path, golden_csv: Path, tmp_path: Path) -> None:
    store.register(swapped_run, "intents", alias="production")  # refund and shipping swapped
    for label in ("refund", "shipping"):
        for text in TRAIN[label]:
            correct(store, "intents", 1, text, label)
    policy = load_policy(write_policy(tmp_path / "loop.yaml", golden_csv, tmp_path / "runs"), "intents")
    policy = replace(policy, promotion=replace(policy.promotion, stage="shadow", stage_requests=4))

    first = run_loop(store, policy)
    assert first.decision is not None and first.decision.decision == STAGED, first.decision
    assert "in shadow until 4 live predictions" in first.decision.reason
    assert store.get_model("intents").aliases["production"] == 1  # not promoted yet
    stage = current_stage(store, "intents")
    assert stage is not None and (stage.kind, stage.champion_version, stage.challenger_version) == ("shadow", 1, 2)

    ids = live(store, 1, ["password", "refund", "refund", "shipping"])
    shadow_answers(store, ids[:3], ["password", "refund", "shipping"])
    waiting = run_loop(store, policy, if_due=True)  # 3 of 4: nothing settled, nothing trained
    assert waiting.decision is None and waiting.stage is not None and not waiting.stage.ready
    assert not due_now(store, policy).due and "3 of 4" in due_now(store, policy).why
    shadow_answers(store, ids[3:], ["shipping"])
    assert due_now(store, policy).due

    settled = run_loop(store, policy, if_due=True)
    row = settled.decision
    assert row is not None and row.decision == "promoted" and row.challenger_version == 2
    assert row.summary["shadow_agreement"] == 0.75 and row.summary["stage"] == "shadow"
    assert row.summary["challenger_accuracy"] == first.decision.summary["challenger_accuracy"]  # golden numbers kept
    assert "agreement 75.0% on 4" in row.reason
    assert store.get_model("intents").aliases["production"] == 2
    assert current_stage(store, "intents") is None
    report = json.loads(Path(row.report_path).read_text(encoding="utf-8"))
    [disagreement] = report["report"]["shadow"]["disagreements"]
    assert disagreement == {"prediction_id": ids[2], "text": "live text 2", "champion": ["refund"],
                            "challenger": ["shipping"]}
    assert [d.decision for d in list_decisions(store, "intents")] == ["promoted", STAGED]


def test_a_shadow_below_the_agreement_floor_is_refused_and_the_champion_stays(two_versions: Store,
                                                                             tmp_path: Path) -> None:
    store = two_versions
    policy = staged_policy(tmp_path, "shadow", stage_requests=3, min_agreement=0.9)
    stage_by_hand(store, policy, tmp_path)
    ids = live(store, 1, ["refund", "refund", "password"])
    shadow_answers(store, ids, ["shipping", "shipping", "password"])

    row = run_loop(store, policy).decision
    assert row is not None and row.decision == "refused"
    assert "agreement with the champion on 3 live predictions is 33.3%, below 90.0%" in row.reason
    assert store.get_model("intents").aliases["production"] == 1 and current_stage(store, "intents") is None
    closed = get_stage(store, 1)
    assert closed.status == "refused" and [r.prediction_id for r in shadowed(store, closed)] == ids


def test_worse_feedback_on_the_shadowed_predictions_refuses(two_versions: Store, tmp_path: Path) -> None:
    store = two_versions
    policy = staged_policy(tmp_path, "shadow", stage_requests=4, max_feedback_drop=10.0)
    stage_by_hand(store, policy, tmp_path)
    ids = live(store, 1, ["refund", "shipping", "password", "refund"])
    shadow_answers(store, ids, ["shipping", "refund", "password", "refund"])
    for pid, label in zip(ids[:3], ["refund", "shipping", "password"]):  # the champion was right each time
        store.add_feedback(pid, label=label)

    row = run_loop(store, policy).decision
    assert row is not None and row.decision == "refused"
    assert "feedback accuracy in the shadow dropped: 100.0 -> 33.3" in row.reason
    assert row.summary["champion_feedback_accuracy"] == 1.0


def test_a_canary_answers_its_share_through_the_split_and_is_promoted_after_its_requests(
        two_versions: Store, tmp_path: Path) -> None:
    store = two_versions
    policy = staged_policy(tmp_path, "canary", stage_requests=3, canary_share=0.25)
    stage_by_hand(store, policy, tmp_path)
    assert store.get_split("intents") == {1: 0.75, 2: 0.25}
    info = store.get_model("intents")
    from tunelab.registry import parse_ref

    chosen = [choose_version(parse_ref("intents"), info, f"caller-{i}") for i in range(400)]
    assert 0.18 < chosen.count(2) / 400 < 0.32
    assert choose_version(parse_ref("intents@production"), info, "caller-1") == 1  # an alias is not split

    ids = live(store, 2, ["refund", "shipping"])
    assert run_loop(store, policy).decision is None  # 2 of 3
    ids += live(store, 2, ["password"])
    store.add_feedback(ids[0], label="refund")
    champion = live(store, 1, ["refund"])
    store.add_feedback(champion[0], label="shipping")

    row = run_loop(store, policy).decision
    assert row is not None and row.decision == "promoted", row
    assert "3 answered live predictions; feedback accuracy 0.0 -> 100.0" in row.reason
    assert store.get_model("intents").aliases["production"] == 2 and store.get_split("intents") == {}


def test_a_canary_with_worse_feedback_or_a_moved_champion_is_refused_and_its_split_removed(
        two_versions: Store, tmp_path: Path) -> None:
    store = two_versions
    policy = staged_policy(tmp_path, "canary", stage_requests=2)
    stage_by_hand(store, policy, tmp_path)
    ids = live(store, 2, ["refund", "refund"])
    store.add_feedback(ids[0], label="shipping")
    store.add_feedback(ids[1], label="shipping")
    store.add_feedback(live(store, 1, ["refund"])[0], label="refund")
    row = run_loop(store, policy).decision
    assert row is not None and row.decision == "refused" and "dropped: 100.0 -> 0.0" in row.reason
    assert store.get_split("intents") == {} and store.get_model("intents").aliases["production"] == 1

    stage_by_hand(store, policy, tmp_path / "again")
    live(store, 2, ["refund", "refund"])
    store.set_alias("intents", "production", 2)  # moved by hand during the stage
    row = run_loop(store, policy).decision
    assert row is not None and row.decision == "refused"
    assert "the champion changed during the canary (production -> v2, was v1)" in row.reason


def test_a_stage_past_its_hours_without_traffic_is_refused(two_versions: Store, tmp_path: Path) -> None:
    store = two_versions
    policy = staged_policy(tmp_path, "shadow", stage_requests=100, stage_hours=1.0)
    stage_by_hand(store, policy, tmp_path)
    assert not due_now(store, policy).due
    from tunelab.loop.tables import loop_stages

    with store.engine.begin() as conn:  # an hour ago
        conn.execute(loop_stages.update().values(started_at=datetime(2020, 1, 1, tzinfo=UTC)))
    assert due_now(store, policy).due
    row = run_loop(store, policy).decision
    assert row is not None and row.decision == "refused" and "no live predictions in the shadow stage" in row.reason


def test_stage_options_are_checked_by_their_dotted_keys() -> None:
    raw = {"model": "intents", "golden": "g.csv",
           "promotion": {"stage": "blue-green", "stage_requests": 0, "canary_share": 1.5, "min_agreement": 2,
                         "stage_hours": -1}}
    with pytest.raises(ConfigError) as info:
        parse_policy(raw)
    assert {p.path for p in info.value.problems} == {"promotion.stage", "promotion.stage_requests",
                                                     "promotion.canary_share", "promotion.min_agreement",
                                                     "promotion.stage_hours"}
    assert parse_policy({"model": "intents", "golden": "g.csv"}).promotion.stage == "none"


def test_the_cli_shows_an_open_stage_then_its_decision(two_versions: Store, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    store = two_versions
    path = tmp_path / "loop.yaml"
    path.write_text(f"model: intents\ngolden: golden.csv\nruns_dir: {tmp_path / 'runs'}\n"
                    "promotion: {stage: shadow, stage_requests: 2}\n", encoding="utf-8")
    stage_by_hand(store, load_policy(path, "intents"), tmp_path)
    argv = ["loop", "run", "intents", "--policy", str(path), "--if-due", "--db", store.url]

    waiting = invoke_cli(argv, monkeypatch, capsys)
    assert waiting.code == 0, waiting.err
    assert "intents: in shadow of v2: 0 of 2 live predictions; nothing trained while the stage is open" in waiting.out
    ids = live(store, 1, ["refund", "shipping"])
    shadow_answers(store, ids[:1], ["refund"])
    assert "1 of 2 live predictions; nothing trained" in invoke_cli(argv, monkeypatch, capsys).out
    shadow_answers(store, ids[1:], ["refund"])
    done = invoke_cli(argv, monkeypatch, capsys)
    assert done.code == 0, done.err
    assert "intents: shadow of v2: 2 of 2 live predictions, agreement 50.0%" in done.out
    assert "PROMOTED: challenger v2 vs champion v1: passed the shadow: agreement 50.0% on 2" in done.out
    history = invoke_cli(["loop", "history", "intents", "--db", store.url], monkeypatch, capsys)
    assert "promoted v2 vs v1" in history.out and "staged v2 vs v1" in history.out


def test_settle_now_decides_an_open_stage_on_the_traffic_seen_so_far(two_versions: Store, tmp_path: Path) -> None:
    store = two_versions
    policy = staged_policy(tmp_path, "shadow", stage_requests=100)
    stage_by_hand(store, policy, tmp_path)
    ids = live(store, 1, ["refund", "shipping"])
    shadow_answers(store, ids, ["refund", "shipping"])
    assert run_loop(store, policy).decision is None
    row = run_loop(store, policy, settle_now=True).decision
    assert row is not None and row.decision == "promoted" and row.summary["stage_seen"] == 2
    assert "agreement 100.0% on 2 live predictions" in row.reason
    assert store.get_model("intents").aliases["production"] == 2


def test_the_scheduler_waits_for_an_open_stage_then_runs_the_loop_that_settles_it(two_versions: Store,
                                                                                 tmp_path: Path) -> None:
    from tests.loop.test_scheduler import Recorder
    from tunelab.loop.scheduler import LoopScheduler

    store = two_versions
    path = tmp_path / "loop.yaml"
    path.write_text(f"model: intents\ngolden: golden.csv\nruns_dir: {tmp_path / 'runs'}\n"
                    "trigger: {every_corrections: 1}\npromotion: {stage: canary, stage_requests: 2}\n",
                    encoding="utf-8")
    stage_by_hand(store, load_policy(path, "intents"), tmp_path)
    correct(store, "intents", 1, "refund money", "refund")  # due by corrections: not while the stage is open
    runner = Recorder()
    scheduler = LoopScheduler(store, [path], db_url=store.url, runner=runner)
    (tick,) = scheduler.tick()
    assert (tick.status, tick.detail) == ("not due", "canary of v2: 0 of 2 live predictions") and not runner.calls
    live(store, 2, ["refund", "shipping"])
    (tick,) = scheduler.tick()
    assert tick.status == "ran" and "canary of v2: 2 of 2 live predictions; ready to settle" in tick.detail
    assert "--if-due" in runner.calls[0][0]
