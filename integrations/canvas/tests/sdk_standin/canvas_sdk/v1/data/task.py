"""Stand-in of canvas_sdk/v1/data/task.py of the Canvas SDK 0.203.0: Task (TimestampedModel,
IdentifiableModel: id UUID, created, modified; creator, assignee -> Staff; team -> Team;
patient -> Patient; task_type, tag, title, due, due_event, status ("OPEN", "COMPLETED",
"CLOSED"), priority), TaskComment (id, created, modified, creator, task, body) and TaskStatus."""

from canvas_sdk.v1.data.base import Model


class TaskStatus:
    COMPLETED = "COMPLETED"
    CLOSED = "CLOSED"
    OPEN = "OPEN"


class Task(Model):
    FIELDS = ("id", "created", "modified", "creator", "assignee", "team", "patient", "task_type",
              "tag", "title", "due", "due_event", "status", "priority")


class TaskComment(Model):
    FIELDS = ("id", "created", "modified", "creator", "task", "body")

    @property
    def task_id(self):
        """Django's attribute for the task foreign key's value."""
        return self.task.id if self.task is not None else None
