"""Developer and demo entry points."""
