"""Stand-in of canvas_sdk/v1/data/__init__.py of the Canvas SDK 0.203.0: the task, patient,
staff and team models only."""

from canvas_sdk.v1.data.patient import Patient
from canvas_sdk.v1.data.staff import Staff
from canvas_sdk.v1.data.task import Task, TaskComment
from canvas_sdk.v1.data.team import Team

__all__ = ("Patient", "Staff", "Task", "TaskComment", "Team")
