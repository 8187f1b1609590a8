"""Monitoring after delivery: what the champion sees in footage that keeps arriving, compared with what it was
trained on (image statistics, prediction statistics, embedding drift) and with a challenger on the same frames."""

from vision_assets.lazy import lazy_exports

_EXPORTS = {
    "DriftTest": "drift",
    "mmd_permutation_test": "drift",
    "image_statistics": "image_stats",
    "disagreement_by_class": "shadow",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
