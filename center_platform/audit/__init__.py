"""The append-only, hash-chained audit trail: writing, batching, reading."""
