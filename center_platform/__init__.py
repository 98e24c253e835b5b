"""Center platform: ingest and verification, catalogue, search, replay, retention, audit."""
