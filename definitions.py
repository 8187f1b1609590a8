"""Code location entry point (workspace.yaml, `dagster dev -f definitions.py`)."""

from vision_assets.definitions import defs

__all__ = ["defs"]
