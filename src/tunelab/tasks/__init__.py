"""Tasks by name: a plain dict, so a wrong name can list the right ones."""

from __future__ import annotations

from tunelab.errors import UsageError
from tunelab.tasks.base import Encoded, Evaluation, Task, collate
from tunelab.tasks.classification import ClassificationTask
from tunelab.tasks.multilabel import MultiLabelTask
from tunelab.tasks.ner import NerTask, words_to_example

TASKS: dict[str, Task] = {
    "classification": ClassificationTask(),
    "multilabel": MultiLabelTask(),
    "ner": NerTask(),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise UsageError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}") from None


def wrap_texts(task: Task, texts: list[str]) -> list:
    """Unlabelled examples for raw texts, in the shape the task encodes."""
    from tunelab.types import TextExample

    if task.name == "ner":
        return [words_to_example(t) for t in texts]
    return [TextExample(t) for t in texts]


__all__ = ["TASKS", "Encoded", "Evaluation", "Task", "collate", "get_task", "wrap_texts"]
