"""mining"""

from vision_assets.core.mining.hard_examples import (
    PREANNOTATION_MIN_SCORE,
    mine_hard_examples,
    queue_annotations,
    write_labeling_queue,
)

__all__ = ["PREANNOTATION_MIN_SCORE", "mine_hard_examples", "queue_annotations", "write_labeling_queue"]
