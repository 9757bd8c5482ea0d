"""Tasks: the Task type, metrics, loaders for user data, and the built-in tasks."""

from promptlift.tasks.base import Task, split_examples
from promptlift.tasks.builtin import TASKS, get_task
from promptlift.tasks.loaders import load_task, task_from_dataframe
from promptlift.tasks.metric_names import get_metric
from promptlift.tasks.metrics import METRICS

__all__ = ["METRICS", "TASKS", "Task", "get_metric", "get_task", "load_task", "split_examples", "task_from_dataframe"]
