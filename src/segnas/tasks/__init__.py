"""Dense tasks as plug-ins: what a network predicts, how it is trained, scored and shown.

The encoder, the decoder builder, both search stages, the store, final training, evaluation,
export and bench are shared; a `Task` supplies the rest. `make_task` builds one for a dataset.
"""

from segnas.tasks.base import (
    TASK_NAMES,
    Task,
    make_task,
    task_for_source,
    task_from_meta,
    task_options,
)
from segnas.tasks.depth import DepthSettings, DepthTask
from segnas.tasks.segmentation import SegmentationTask

__all__ = [
    "TASK_NAMES",
    "DepthSettings",
    "DepthTask",
    "SegmentationTask",
    "Task",
    "make_task",
    "task_for_source",
    "task_options",
    "task_from_meta",
]
