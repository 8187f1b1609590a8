"""Near-duplicate thresholds of ingest, kept apart from the ingest code (pandas, PyAV, OpenCV): the Dagster
resources read the default when the code location loads."""

# Mean Hamming distance (of 256 bits) between aligned frame hashes under which two videos are the same footage:
# a downscaled mpeg4 re-encode of realshort.mp4 is 20 away, unrelated clips about 125.
NEAR_DUPLICATE_DISTANCE = 24.0
# Re-encodes keep their duration; two clips of one static camera usually do not.
NEAR_DUPLICATE_DURATION_SHARE = 0.05
