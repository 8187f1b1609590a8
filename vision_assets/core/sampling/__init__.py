"""Frame sampling: strategies (register_strategy is the plugin hook), one file's sampler, whole partitions.
Names load on first use: sampling one file (`vision-assets sample`) never imports the partition code and pandas."""

from vision_assets.lazy import lazy_exports

_EXPORTS = {
    "FRAME_COLUMNS": "partition", "SamplingPlan": "partition", "frames_version": "partition",
    "sample_partition": "partition", "sampling_source": "partition",
    "sample_file_report": "sampler", "sample_video_file": "sampler",
    "STRATEGIES": "strategies", "SamplingStrategy": "strategies", "StrategyError": "strategies",
    "get_strategy": "strategies", "register_strategy": "strategies",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
