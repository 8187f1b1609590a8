"""vision_assets: video computer-vision training as a Dagster asset graph."""

__version__ = "0.1.0"
