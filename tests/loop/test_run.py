"""The whole loop on the tiny model: a challenger fixed by corrections is promoted (and rolled back); one trained on
corrupted corrections is refused with its reason; golden texts never reach training; the trigger and dry runs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import invoke_cli, write_csv
from tests.loop.conftest import GOLDEN, SWAP, TRAIN, correct, rows
from tunelab.config import load_config
from tunelab.errors import UsageError
from tunelab.loop.policy import LoopPolicy, PromotionPolicy, TriggerPolicy
from tunelab.loop.records import list_decisions
from tunelab.loop.run import run_loop
from tunelab.registry import PredictionRecord, Store


def policy_for(golden: Path, runs: Path, **changes: object) -> LoopPolicy:
    promotion = PromotionPolicy(min_golden_size=18, max_class_drop=10.0)
    return LoopPolicy("intents", str(golden), promotion=promotion, runs_dir=str(runs), **changes)  # type: ignore


def write_policy(path: Path, golden: Path, runs: Path) -> Path:
    """The policy, with a dev file of the right labels (a dev set carved from 30 rows is 3 rows: too few to pick
    the best checkpoint on)."""
    dev = write_csv(path.parent / "dev.csv", rows(TRAIN))
    path.write_text(f"model: intents\ngolden: {golden}\nruns_dir: {runs}\nsource: {{dev: {dev}}}\n"
                    "promotion: {min_golden_size: 18, max_class_drop: 10}\n", encoding="utf-8")
    return path


def test_a_challenger_fixed_by_corrections_is_promoted_and_one_command_rolls_it_back(
        store: Store, swapped_run: Path, golden_csv: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    store.register(swapped_run, "intents", alias="production")  # refund and shipping swapped
    for label in ("refund", "shipping"):
        for text in TRAIN[label]:
            correct(store, "intents", 1, text, label)
    leak = GOLDEN["refund"][0]
    correct(store, "intents", 1, leak, "password")  # a correction of a golden text: never trained on
    policy = write_policy(tmp_path / "loop.yaml", golden_csv, tmp_path / "loop-runs")
    db = ["--db", store.url]

    result = invoke_cli(["loop", "run", "intents", "--policy", str(policy), "--quiet", *db], monkeypatch, capsys)
    assert result.code == 0, result.err
    assert "PROMOTED: challenger v2 vs champion v1" in result.out
    assert "golden set (18): accuracy 0." in result.out and "mcnemar-midp p = " in result.out
    assert store.get_model("intents").aliases["production"] == 2

    [decision] = list_decisions(store, "intents")
    assert decision.decision == "promoted" and decision.challenger_version == 2
    assert decision.summary["challenger_accuracy"] > decision.summary["champion_accuracy"]
    assert decision.summary["p_value"] < 0.05 and decision.summary["detail"].startswith("b = ")
    assert decision.summary["golden_excluded_corrections"] == 1
    report = json.loads(Path(decision.report_path).read_text(encoding="utf-8"))
    assert report["golden"]["challenger"]["accuracy"] > report["golden"]["champion"]["accuracy"]
    assert set(report["golden"]["class_deltas"]) == {"refund", "shipping", "password"}
    assert report["golden"]["test"]["method"] == "mcnemar-midp" and report["recent_corrections"] is not None
    shadow = report["shadow"]  # the champion's 21 logged answers ("password") re-scored by the challenger
    assert shadow["texts"] == 21 and 0 <= shadow["agreement"] < 1 and shadow["disagreements"]
    assert decision.summary["shadow_agreement"] == shadow["agreement"]
    folder = Path(decision.report_path).parent
    trained = (folder / "data" / "train.jsonl").read_text(encoding="utf-8")
    assert all(json.dumps(text) not in trained for texts in GOLDEN.values() for text in texts)
    provenance = [json.loads(x) for x in (folder / "data" / "provenance.jsonl").read_text().splitlines()]
    assert sum(p["origin"] == "correction" for p in provenance) == 20

    history = invoke_cli(["loop", "history", "intents", *db], monkeypatch, capsys)
    assert history.code == 0 and "promoted v2 vs v1" in history.out
    back = invoke_cli(["loop", "rollback", "intents", *db], monkeypatch, capsys)
    assert back.code == 0 and "intents@production -> version 1 (rolled back) (undid loop decision #1)" in back.out
    assert store.get_model("intents").aliases["production"] == 1
    assert list_decisions(store, "intents")[0].rolled_back_at is not None


def test_a_challenger_trained_on_corrupted_corrections_is_refused_and_stays_registered(
        store: Store, good_run: Path, golden_csv: Path, tmp_path: Path) -> None:
    store.register(good_run, "intents", alias="production")
    for label in ("refund", "shipping"):
        for text in TRAIN[label]:
            correct(store, "intents", 1, text, SWAP[label])  # wrong "corrections"
    outcome = run_loop(store, policy_for(golden_csv, tmp_path / "runs"))
    decision = outcome.decision
    assert decision is not None and decision.decision == "refused"
    assert "the challenger is not better on the golden set" in decision.reason
    assert decision.summary["challenger_accuracy"] < decision.summary["champion_accuracy"]
    assert min(decision.summary["class_deltas"].values()) < -10
    model = store.get_model("intents")
    assert model.aliases["production"] == 1 and [v.version for v in model.versions] == [1, 2]
    assert json.loads(Path(decision.report_path).read_text())["decision"] == "refused"


def test_the_trigger_and_a_dry_run_train_nothing(store: Store, good_run: Path, golden_csv: Path,
                                                  tmp_path: Path) -> None:
    store.register(good_run, "intents", alias="production")
    correct(store, "intents", 1, "my parcel now", "shipping")
    policy = policy_for(golden_csv, tmp_path / "runs", trigger=TriggerPolicy(every_corrections=2))
    waiting = run_loop(store, policy, if_due=True)
    assert not waiting.due.due and waiting.decision is None and waiting.folder is None
    assert "1 new correction(s) of 2 needed" in waiting.due.why
    correct(store, "intents", 1, "refund money", "refund")
    dry = run_loop(store, policy, if_due=True, dry_run=True)
    assert dry.due.due and dry.dry_run and dry.decision is None and dry.counts is not None
    assert dry.counts.corrections_used == 2 and dry.folder is not None
    assert (dry.folder / "data" / "provenance.jsonl").is_file()
    assert [v.version for v in store.get_model("intents").versions] == [1] and not list_decisions(store)


def test_a_bad_policy_exits_2_naming_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "loop.yaml"
    policy.write_text("model: intents\ngolden: g.csv\npromotion: {significance: 1.5}\n", encoding="utf-8")
    result = invoke_cli(["loop", "run", "intents", "--policy", str(policy), "--db", f"sqlite:///{tmp_path}/r.db"],
                        monkeypatch, capsys)
    assert result.code == 2 and "promotion.significance: must be in (0, 0.5)" in result.err


def test_an_ner_model_goes_round_the_loop_with_a_bootstrap_of_entity_f1(
        store: Store, tiny_model: Path, ner_conll: Path, tmp_path: Path) -> None:
    import tunelab
    from tests.conftest import NER_SENTENCES

    run = tmp_path / "ner-run"
    tunelab.train(data=str(ner_conll), dev=str(ner_conll), test_fraction=0.0, task="ner", output=str(run),
                  model=str(tiny_model), epochs=3, batch_size=6, lr=3e-3, warmup_ratio=0.0, patience=0,
                  precision="fp32", show_progress=False)
    store.register(run, "entities", alias="production")
    golden = tmp_path / "golden.conll"
    golden.write_text("\n\n".join("\n".join(f"{w} X X {t}" for w, t in zip(words, tags))
                                  for words, tags in NER_SENTENCES[:2]) + "\n", encoding="utf-8")
    text = "Carol left Berlin"
    store.log_predictions([PredictionRecord("p-ner", "entities", 1, {"spans": []}, 1.0, text)])
    store.add_feedback("p-ner", label=[{"start": 0, "end": 5, "label": "ORG"}, {"start": 11, "end": 17,
                                                                                "label": "LOC"}])
    policy = LoopPolicy("entities", str(golden), promotion=PromotionPolicy(min_golden_size=50,
                                                                           bootstrap_samples=200),
                        runs_dir=str(tmp_path / "runs"), warm_start=True)
    with pytest.raises(UsageError, match="has 2 examples; the policy needs at least 50"):
        run_loop(store, policy)  # refused before any training
    assert [v.version for v in store.get_model("entities").versions] == [1]
    policy = replace(policy, promotion=replace(policy.promotion, min_golden_size=2))
    decision = run_loop(store, policy).decision
    assert decision is not None and decision.decision in ("promoted", "refused")
    assert decision.summary["test"] == "bootstrap" and "95% CI" in decision.summary["detail"]
    assert decision.summary["golden_examples"] == 2
    challenger = Path(store.get_version("entities", 2).run_path)
    assert load_config(challenger / "config.yaml").model.name == str(run.resolve())  # warm start from the champion
    rows = [json.loads(x) for x in (Path(decision.report_path).parent / "data" / "train.jsonl").read_text()
            .splitlines()]
    assert len(rows) == 4  # 6 sentences, 2 of them golden
    assert {"text": text, "label": [{"start": 0, "end": 5, "label": "ORG"},
                                    {"start": 11, "end": 17, "label": "LOC"}]} in rows


def test_the_cli_dry_run_prints_json_and_a_missing_base_file_exits_2(
        store: Store, good_run: Path, golden_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    store.register(good_run, "intents", alias="production")
    correct(store, "intents", 1, GOLDEN["shipping"][0], "refund")
    policy = write_policy(tmp_path / "loop.yaml", golden_csv, tmp_path / "runs")
    db = ["--db", store.url]
    result = invoke_cli(["loop", "run", "intents", "-p", str(policy), "--dry-run", "--json", *db], monkeypatch, capsys)
    assert result.code == 0, result.err
    out = json.loads(result.out)
    assert out["dry_run"] and out["decision"] is None and out["counts"]["golden_excluded_corrections"] == 1
    assert out["counts"]["original_rows"] == 30 and out["counts"]["corrections_used"] == 0
    assert Path(out["folder"], "data", "train.jsonl").is_file()

    policy.write_text(policy.read_text() + "runs_dir_unused: 1\n")
    unknown = invoke_cli(["loop", "run", "intents", "-p", str(policy), *db], monkeypatch, capsys)
    assert unknown.code == 2 and "runs_dir_unused: unknown key (did you mean 'runs_dir'?)" in unknown.err
    policy.write_text(f"model: intents\ngolden: {golden_csv}\nsource: {{train: gone.csv}}\n")
    missing = invoke_cli(["loop", "run", "intents", "-p", str(policy), *db], monkeypatch, capsys)
    assert missing.code == 2 and "gone.csv" in missing.err and "source.train" in missing.err
    assert invoke_cli(["loop", "run", "nobody", "-p", str(policy), *db], monkeypatch, capsys).code == 2
    assert "no loop decisions yet" in invoke_cli(["loop", "history", "intents", *db], monkeypatch, capsys).out


def test_a_multilabel_model_goes_round_the_loop(store: Store, tiny_model: Path, multilabel_jsonl: Path,
                                                tmp_path: Path) -> None:
    import tunelab

    run = tmp_path / "multi-run"
    tunelab.train(data=str(multilabel_jsonl), dev=str(multilabel_jsonl), test_fraction=0.0, task="multilabel",
                  output=str(run), model=str(tiny_model), epochs=3, batch_size=6, lr=3e-3, warmup_ratio=0.0,
                  patience=0, precision="fp32", show_progress=False)
    store.register(run, "tags", alias="production")
    lines = multilabel_jsonl.read_text(encoding="utf-8").splitlines()
    golden = tmp_path / "golden.jsonl"
    golden.write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")
    correct_pid = "p-multi"
    store.log_predictions([PredictionRecord(correct_pid, "tags", 1, {"labels": ["refund"], "scores": {}}, 1.0,
                                            "track my delivery")])
    store.add_feedback(correct_pid, label=["shipping", "urgent"])
    policy = LoopPolicy("tags", str(golden), promotion=PromotionPolicy(min_golden_size=4),
                        runs_dir=str(tmp_path / "runs"))
    decision = run_loop(store, policy).decision
    assert decision is not None and decision.summary["test"] == "mcnemar-midp"
    assert decision.summary["golden_examples"] == 4
    rows = [json.loads(x) for x in (Path(decision.report_path).parent / "data" / "train.jsonl").read_text()
            .splitlines()]
    assert {"text": "track my delivery", "label": ["shipping", "urgent"]} in rows
    assert len(rows) == len(lines) - 4
