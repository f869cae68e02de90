"""Stand-in of canvas_sdk/handlers/base.py of the Canvas SDK 0.203.0 (BaseHandler, without the
deprecated context/target properties)."""

from abc import ABC, abstractmethod


class BaseHandler(ABC):
    """The class that all handlers inherit from."""

    def __init__(self, event, secrets=None, environment=None):
        self.event = event
        self.secrets = secrets or {}
        self.environment = environment or {}

    @abstractmethod
    def compute(self):
        """Compute the effects to be applied."""

    def accept_event(self):
        """Determine whether an event should be accepted and handled by the handler."""
        return True
