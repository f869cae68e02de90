"""Stand-in of canvas_sdk/handlers/cron_task.py (CronTask) of the Canvas SDK 0.203.0. The SDK
checks the CRON event's time (its target, an ISO date-time) against SCHEDULE with
cron_converter; this stand-in understands "*" and comma-separated numbers in each of the five
fields, which is all the plugin's schedule uses."""

from abc import abstractmethod
from datetime import datetime

from canvas_sdk.events import EventType
from canvas_sdk.handlers.base import BaseHandler


def _matches(schedule, when):
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError("a cron schedule has five fields")
    values = (when.minute, when.hour, when.day, when.month, when.isoweekday() % 7)
    return all(f == "*" or v in {int(x) for x in f.split(",")} for f, v in zip(fields, values))


class CronTask(BaseHandler):
    """A type of handler that executes periodically according to a provided schedule."""

    RESPONDS_TO = EventType.Name(EventType.CRON)

    SCHEDULE = ""  # e.g. "* * * * *" for every minute.

    @abstractmethod
    def execute(self):
        """Perform some work and return a list of effects."""

    def compute(self):
        """See if the task should execute given the timestamp."""
        if not self.SCHEDULE:
            raise ValueError("You must set a SCHEDULE.")
        event_time = datetime.fromisoformat(self.event.target.id.replace("Z", "+00:00"))
        if _matches(self.SCHEDULE, event_time):
            return self.execute()
        return []
