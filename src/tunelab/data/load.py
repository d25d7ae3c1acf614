"""Load and validate train/dev/test into a DatasetBundle, carving missing splits from train."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tunelab.config import DataConfig
from tunelab.data.formats import read_file
from tunelab.data.split import split_examples
from tunelab.data.validate import (
    check_class_sizes,
    check_not_empty,
    check_unseen_labels,
    cross_split_warnings,
    is_error,
)
from tunelab.errors import DataError, DataProblem
from tunelab.tasks.spec import get_spec
from tunelab.types import DatasetBundle, Example, Split

SPLIT_NAMES = ("train", "dev", "test")


@dataclass
class ReadSplit:
    """Examples read from one given file."""

    name: str
    path: str
    examples: list[Example]


def read_examples(path: str | Path, config: DataConfig, labeled: bool = True) -> list[Example]:
    """Read one file (evaluate/predict input); raises DataError listing every problem in it."""
    examples, problems = read_file(Path(path), config, labeled)
    problems += check_not_empty(examples, str(path), problems)
    errors = [p for p in problems if is_error(p)]
    if errors:
        raise DataError(errors)
    return examples


def read_splits(config: DataConfig) -> tuple[dict[str, ReadSplit], list[DataProblem]]:
    """Every given file read, with all their problems (a missing train file is one of them)."""
    problems: list[DataProblem] = []
    if config.train is None:
        problems.append(DataProblem("<config>", "no training file given; pass --data FILE"))
    splits: dict[str, ReadSplit] = {}
    for name in SPLIT_NAMES:
        path = getattr(config, name)
        if path is None:
            continue
        examples, found = read_file(Path(path), config, labeled=True)
        found += check_not_empty(examples, str(path), found)
        problems += found
        splits[name] = ReadSplit(name, str(path), examples)
    return splits, problems


def check_splits(splits: dict[str, ReadSplit], task: str) -> list[DataProblem]:
    """Cross-split errors: tiny training classes and dev/test labels unseen in train."""
    train = splits.get("train")
    if train is None or not train.examples:
        return []
    problems = check_class_sizes(train.examples, train.path, task)
    for name in ("dev", "test"):
        if name in splits:
            problems += check_unseen_labels(train.examples, splits[name].examples, name, splits[name].path)
    return problems


def fingerprint_files(config: DataConfig) -> str:
    """sha256 over the given files' bytes, in train/dev/test order with the split names mixed in."""
    digest = hashlib.sha256()
    for name in SPLIT_NAMES:
        path = getattr(config, name)
        if path is None:
            continue
        digest.update(f"{name}\0".encode())
        digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def carve(train: list[Example], name: str, shares: tuple[float, float], seed: int,
          stratify: bool) -> tuple[list[Example], Split | None, str]:
    """Carve `name` out of train; returns (remaining train, split or None, note).

    `shares` is (share of the original train asked for, share of the remaining train to take)."""
    fraction, share = shares
    if fraction <= 0:
        return train, None, f"{name}: none"
    kept, carved = split_examples(train, share, seed, stratify)
    how = "stratified" if stratify else "random"
    if not carved:
        return train, None, f"{name}: none (train too small to carve {fraction:.0%})"
    return kept, Split(name, tuple(carved)), f"{name}: {fraction:.0%} of train, {how}, seed {seed}"


def assemble(splits: dict[str, ReadSplit], config: DataConfig, seed: int) -> tuple[dict[str, Split | None], str]:
    """Final splits (given ones as read, missing ones carved from train) and the split note."""
    train = list(splits["train"].examples)
    stratify = get_spec(config.task).stratify
    out: dict[str, Split | None] = {}
    notes: dict[str, str] = {}
    test_share = 0.0
    if "test" in splits:
        out["test"] = Split("test", tuple(splits["test"].examples), splits["test"].path)
        notes["test"] = f"test: given file {Path(splits['test'].path).name}"
    else:
        train, out["test"], notes["test"] = carve(train, "test", (config.test_fraction,) * 2, seed,
                                                     stratify)
        test_share = config.test_fraction if out["test"] else 0.0
    if "dev" in splits:
        out["dev"] = Split("dev", tuple(splits["dev"].examples), splits["dev"].path)
        notes["dev"] = f"dev: given file {Path(splits['dev'].path).name}"
    else:
        shares = (config.dev_fraction, config.dev_fraction / (1 - test_share))
        train, out["dev"], notes["dev"] = carve(train, "dev", shares, seed, stratify)
    out["train"] = Split("train", tuple(train), splits["train"].path)
    return out, f"{notes['dev']}; {notes['test']}"


def load_dataset(config: DataConfig, seed: int) -> DatasetBundle:
    """Read and validate train (required), dev and test; raise DataError listing every error found.

    Missing dev/test are carved from train (seeded, stratified by label except for NER)."""
    splits, problems = read_splits(config)
    problems += check_splits(splits, config.task)
    errors = [p for p in problems if is_error(p)]
    if errors:
        raise DataError(errors)
    warnings = [str(p) for p in problems if not is_error(p)]
    warnings += cross_split_warnings({name: s.examples for name, s in splits.items()})
    out, note = assemble(splits, config, seed)
    return DatasetBundle(config.task, out["train"], out["dev"], out["test"], tuple(warnings), note,
                         fingerprint_files(config))



def run_training_split(run_dir: Path, purpose: str) -> tuple[list[Example], str]:
    """A finished run's training examples, re-read with its own data settings, and their fingerprint; refused
    (UsageError naming `purpose`, what needs them) when the files cannot be read or changed since training."""
    bundle = run_dataset(run_dir, purpose)
    return list(bundle.train.examples), bundle.fingerprint


def run_dataset(run_dir: Path, purpose: str) -> DatasetBundle:
    """A finished run's train, dev and test splits as it trained on them (see `run_training_split`)."""
    import json

    from tunelab.config import load_config
    from tunelab.errors import UsageError

    config = load_config(run_dir / "config.yaml")
    splits = run_dir / "splits.json"
    recorded = json.loads(splits.read_text(encoding="utf-8")).get("fingerprint") if splits.is_file() else None
    try:
        bundle = load_dataset(config.data, config.train.seed)
    except Exception as exc:  # noqa: BLE001 - a moved or broken data file: one clear message
        raise UsageError(f"{purpose} needs the training data of {run_dir} once ({config.data.train}), which "
                         f"cannot be read: {exc}") from None
    if recorded is not None and bundle.fingerprint != recorded:
        raise UsageError(f"the training data of {run_dir} changed since it was trained; cannot build its {purpose}")
    return bundle
