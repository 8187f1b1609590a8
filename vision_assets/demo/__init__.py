"""Synthetic traffic-camera footage with CVAT labels, for `make demo` and tests (see :mod:`.generator`)."""

from vision_assets.demo.generator import generate_demo_data
from vision_assets.demo.spec import DEMO_CLASSES, DemoSpec

__all__ = ["DEMO_CLASSES", "DemoSpec", "generate_demo_data"]
