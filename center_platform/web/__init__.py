"""The center's browser UI."""
