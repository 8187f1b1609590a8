"""`vision-assets`: the command line."""

from vision_assets.cli.main import main

__all__ = ["main"]
