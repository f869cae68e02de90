"""Stand-in of the Canvas SDK package canvas_sdk.caching (tests only)."""
