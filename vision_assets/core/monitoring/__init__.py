"""Monitoring after delivery: what the champion sees in footage that keeps arriving, compared with what it was
trained on (image statistics, prediction statistics, embedding drift) and with a challenger on the same frames."""

from vision_assets.core.monitoring.drift import DriftTest, mmd_permutation_test
from vision_assets.core.monitoring.image_stats import image_statistics
from vision_assets.core.monitoring.shadow import disagreement_by_class

__all__ = ["DriftTest", "disagreement_by_class", "image_statistics", "mmd_permutation_test"]
