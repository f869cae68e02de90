"""Stand-in of canvas_sdk/events/__init__.py, canvas_sdk/events/base.py (Event, TargetType,
Actor) and canvas_generated/messages/events_pb2 (EventType, the Event message as EventRequest)
of the Canvas SDK 0.203.0."""

import json


class _EventTypeWrapper:
    """Mirrors the protobuf EnumTypeWrapper that events_pb2.EventType is: the values are
    attributes (EventType.TASK_CREATED == 54) and Name/Value convert both ways. The numbers are
    those of protobufs/canvas_generated/messages/events.proto."""

    _values = {
        "UNKNOWN": 0,
        "TASK_COMMENT_CREATED": 51,
        "TASK_CREATED": 54,
        "TASK_LABELS_ADJUSTED": 55,
        "TASK_UPDATED": 57,
        "TASK_COMMENT_UPDATED": 78,
        "TASK_COMMENT_DELETED": 79,
        "TASK_CLOSED": 86,
        "TASK_COMPLETED": 87,
        "CRON": 60,
    }

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def Name(self, number):  # noqa: N802 (protobuf's spelling)
        for name, value in self._values.items():
            if value == number:
                return name
        raise ValueError(f"Enum EventType has no name defined for value {number!r}")

    def Value(self, name):  # noqa: N802
        try:
            return self._values[name]
        except KeyError:
            raise ValueError(f"Enum EventType has no value defined for name {name!r}") from None


EventType = _EventTypeWrapper()


class EventRequest:
    """Mirrors the events_pb2.Event message: type, target, context (a JSON string),
    target_type, actor, source."""

    def __init__(self, type=0, target="", context="", target_type="", actor="", source=""):
        self.type = type
        self.target = target
        self.context = context
        self.target_type = target_type
        self.actor = actor
        self.source = source


class TargetType:
    """Mirrors canvas_sdk.events.base.TargetType (id; the model type is not resolved here)."""

    def __init__(self, id, type=None):
        self.id = id
        self.type = type


class Actor:
    """Mirrors canvas_sdk.events.base.Actor."""

    def __init__(self, id):
        self.id = id


class Event:
    """Mirrors canvas_sdk.events.base.Event: built from an EventRequest."""

    def __init__(self, event_request):
        try:
            context = json.loads(event_request.context)
        except ValueError:
            context = {}
        self.type = event_request.type
        try:
            self.name = EventType.Name(self.type)
        except ValueError:
            self.name = f"UNKNOWN_EVENT_{self.type}"
        self.context = context
        self.target = TargetType(id=event_request.target, type=None)
        self.actor = Actor(id=event_request.actor)
        self.source = event_request.source


__all__ = ("EventRequest", "EventType", "Event")
