"""Video files: decode (frames as they really decode), probe, phash (near-duplicates), normalise, privacy (blur).

Names load on first use (PEP 562): importing one of them imports only its submodule."""

from vision_assets.lazy import lazy_exports

_EXPORTS = {
    "VIDEO_EXTENSIONS": "decode",
    "DecodedFrame": "decode",
    "UnreadableVideo": "decode",
    "VideoSource": "decode",
    "decoded_ahead": "decode",
    "pts_seconds": "decode",
    "NormaliseSpec": "normalise",
    "normalise_video": "normalise",
    "output_size": "normalise",
    "resolve_codec": "normalise",
    "NearDuplicateIndex": "phash",
    "hamming": "phash",
    "hash_from_hex": "phash",
    "hash_to_hex": "phash",
    "perceptual_hash": "phash",
    "signature_distance": "phash",
    "signature_from_hex": "phash",
    "FRONTAL_FACE": "privacy",
    "PLATE": "privacy",
    "PROFILE_FACE": "privacy",
    "Blurrer": "privacy",
    "PrivacyUnavailableError": "privacy",
    "blur_regions": "privacy",
    "missing_detector_reason": "privacy",
    "pad_box": "privacy",
    "probe_video": "probe",
    "read_sidecar": "probe",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
