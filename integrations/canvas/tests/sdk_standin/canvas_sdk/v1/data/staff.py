"""Stand-in of canvas_sdk/v1/data/staff.py of the Canvas SDK 0.203.0: Staff (id, the
32-character key; prefix, suffix, first_name, middle_name, last_name)."""

from canvas_sdk.v1.data.base import Model


class Staff(Model):
    FIELDS = ("id", "created", "modified", "prefix", "suffix", "first_name", "middle_name", "last_name")
