"""The loop policy: every bad value named by its dotted key, unknown keys with the closest one, paths resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunelab.errors import ConfigError
from tunelab.loop.policy import load_policy, parse_policy


def test_a_minimal_policy_gets_the_defaults_and_paths_relative_to_its_file(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("model: intents\ngolden: data/golden.csv\nsource: {train: base.csv}\n", encoding="utf-8")
    policy = load_policy(path, "intents")
    assert policy.golden == str(tmp_path / "data" / "golden.csv")
    assert policy.source.train == str(tmp_path / "base.csv")
    assert policy.promotion.alias == "production" and policy.promotion.significance == 0.05
    assert policy.trigger.every_corrections is None and policy.trigger.schedule is None


def test_every_problem_is_reported_at_once_by_its_dotted_key() -> None:
    raw = {"model": "intents", "golden": "g.csv", "trigger": {"every_corrections": 0, "schedule": "monthly"},
           "promotion": {"significance": 0.7, "max_class_drop": -1, "min_golden_size": 0, "tset": "x"},
           "source": {"corrections_since_version": "two"}}
    with pytest.raises(ConfigError) as info:
        parse_policy(raw, source="loop.yaml")
    paths = {p.path for p in info.value.problems}
    assert paths == {"trigger.every_corrections", "trigger.schedule", "promotion.significance",
                     "promotion.max_class_drop", "promotion.min_golden_size", "promotion.tset",
                     "source.corrections_since_version"}
    message = str(info.value)
    assert message.startswith("loop.yaml: 7 problems in the loop policy")
    assert "did you mean 'test'?" in message and "monthly" in message


def test_missing_golden_set_and_a_policy_for_another_model_are_errors() -> None:
    with pytest.raises(ConfigError, match="golden: missing"):
        parse_policy({"model": "intents"})
    with pytest.raises(ConfigError, match="model: the policy is for 'intents', not 'other'"):
        parse_policy({"model": "intents", "golden": "g.csv"}, "other")


def test_a_file_of_several_models_picks_one_and_prefixes_its_problems() -> None:
    raw = {"models": {"intents": {"golden": "g.csv"}, "faq": {"golden": "f.csv", "promotion": {"test": "t-test"}}}}
    assert parse_policy(raw, "intents").golden == "g.csv"
    with pytest.raises(ConfigError, match=r"models\.faq\.promotion\.test: must be one of auto, mcnemar-midp"):
        parse_policy(raw, "faq")
    with pytest.raises(ConfigError, match="no policy for model 'nope' .known: intents, faq"):
        parse_policy(raw, "nope")
