"""The center's database: models, engine and migrations."""
