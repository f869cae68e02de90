"""Stand-in of the Canvas SDK package canvas_sdk.v1 (tests only)."""
