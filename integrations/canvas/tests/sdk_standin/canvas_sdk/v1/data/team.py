"""Stand-in of canvas_sdk/v1/data/team.py of the Canvas SDK 0.203.0: Team (TimestampedModel,
IdentifiableModel: id UUID; name)."""

from canvas_sdk.v1.data.base import Model


class Team(Model):
    FIELDS = ("id", "created", "modified", "name")
