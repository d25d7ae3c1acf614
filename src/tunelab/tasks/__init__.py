"""Tasks by name: a plain dict, so a wrong name can list the right ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab.errors import UsageError
from tunelab.tasks.base import Encoded, Evaluation, Task, collate
from tunelab.tasks.classification import ClassificationTask
from tunelab.tasks.multilabel import MultiLabelTask
from tunelab.tasks.ner import NerTask
from tunelab.tasks.spec import SPECS, TASK_NAMES, TaskSpec, get_spec

TASKS: dict[str, Task] = {task.spec.name: task for task in (ClassificationTask(), MultiLabelTask(), NerTask())}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise UsageError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}") from None


def wrap_texts(task: Task, texts: list[str], state: Mapping[str, Any] | None = None) -> list:
    """Unlabelled examples for raw texts, in the shape the task encodes (`state`: the run's task state)."""
    return [task.wrap_text(t, state) for t in texts]


def auto_model_class(name: str) -> Any:
    """The transformers Auto class the task called `name` loads its model with."""
    import transformers

    return getattr(transformers, get_spec(name).auto_model)


def task_of_output(output: Mapping[str, Any]) -> Task | None:
    """The task whose serialised prediction `output` is (by the key that holds its answer), if any.

    For outputs logged without a registered model version (an assistant's answers); a registered
    version names its task."""
    return next((task for task in TASKS.values() if task.spec.output_key in output), None)


__all__ = ["SPECS", "TASKS", "TASK_NAMES", "Encoded", "Evaluation", "Task", "TaskSpec", "auto_model_class",
           "collate", "get_spec", "get_task", "task_of_output", "wrap_texts"]
