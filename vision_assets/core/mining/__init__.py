"""mining

Names load on first use (PEP 562): importing one of them imports only its submodule."""

from vision_assets.lazy import lazy_exports

_EXPORTS = {
    "PREANNOTATION_MIN_SCORE": "queue_layout",
    "mine_hard_examples": "hard_examples",
    "queue_annotations": "hard_examples",
    "write_labeling_queue": "hard_examples",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
