"""Stand-in of canvas_sdk/v1/data/patient.py of the Canvas SDK 0.203.0: Patient (id, the
32-character key; first_name, middle_name, last_name, birth_date (a date), sex_at_birth, a
SexAtBirth code "F", "M", "O", "UNK" or "")."""

from canvas_sdk.v1.data.base import Model


class Patient(Model):
    FIELDS = ("id", "created", "modified", "first_name", "middle_name", "last_name", "birth_date", "sex_at_birth")
