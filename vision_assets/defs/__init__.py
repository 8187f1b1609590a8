"""The thin Dagster layer: one module per pipeline stage, assembled by the top-level definitions.py."""
