"""Video files: decode (frames as they really decode), probe, phash (near-duplicates), normalise, privacy (blur)."""

from vision_assets.core.video.decode import (
    VIDEO_EXTENSIONS,
    DecodedFrame,
    UnreadableVideo,
    VideoSource,
    decoded_ahead,
)
from vision_assets.core.video.normalise import NormaliseSpec, normalise_video, output_size, resolve_codec
from vision_assets.core.video.phash import (
    NearDuplicateIndex,
    hamming,
    hash_from_hex,
    hash_to_hex,
    perceptual_hash,
    signature_distance,
    signature_from_hex,
)
from vision_assets.core.video.privacy import (
    FRONTAL_FACE,
    PLATE,
    PROFILE_FACE,
    Blurrer,
    PrivacyUnavailableError,
    blur_regions,
    missing_detector_reason,
    pad_box,
)
from vision_assets.core.video.probe import probe_video, read_sidecar

__all__ = [
    "Blurrer",
    "DecodedFrame",
    "FRONTAL_FACE",
    "NearDuplicateIndex",
    "NormaliseSpec",
    "PLATE",
    "PROFILE_FACE",
    "PrivacyUnavailableError",
    "UnreadableVideo",
    "VIDEO_EXTENSIONS",
    "VideoSource",
    "blur_regions",
    "decoded_ahead",
    "hamming",
    "hash_from_hex",
    "hash_to_hex",
    "missing_detector_reason",
    "normalise_video",
    "output_size",
    "pad_box",
    "perceptual_hash",
    "probe_video",
    "read_sidecar",
    "resolve_codec",
    "signature_distance",
    "signature_from_hex",
]
