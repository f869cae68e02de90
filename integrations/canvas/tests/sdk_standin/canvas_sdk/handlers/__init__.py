"""Stand-in of canvas_sdk/handlers/__init__.py of the Canvas SDK 0.203.0."""

from canvas_sdk.handlers.base import BaseHandler

__all__ = ("BaseHandler",)
