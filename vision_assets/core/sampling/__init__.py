"""Frame sampling: strategies (register_strategy is the plugin hook), one file's sampler, whole partitions."""

from vision_assets.core.sampling.partition import (
    FRAME_COLUMNS,
    SamplingPlan,
    frames_version,
    sample_partition,
    sampling_source,
)
from vision_assets.core.sampling.sampler import sample_file_report, sample_video_file
from vision_assets.core.sampling.strategies import (
    STRATEGIES,
    SamplingStrategy,
    StrategyError,
    get_strategy,
    register_strategy,
)

__all__ = [
    "FRAME_COLUMNS",
    "STRATEGIES",
    "SamplingPlan",
    "SamplingStrategy",
    "StrategyError",
    "frames_version",
    "get_strategy",
    "register_strategy",
    "sample_file_report",
    "sample_partition",
    "sample_video_file",
    "sampling_source",
]
