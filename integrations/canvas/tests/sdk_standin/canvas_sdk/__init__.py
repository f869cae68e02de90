"""Stand-in of the Canvas SDK package `canvas_sdk` (tests only; see ../README.md)."""
