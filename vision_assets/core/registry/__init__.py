"""registry"""

from vision_assets.core.registry.mlflow_registry import ModelRegistry

__all__ = ["ModelRegistry"]
