"""The lake: one root URI (a local folder or s3://...), content-addressed blobs, hive-partitioned tables, atomic writes.

`keys` names every object in it; records hold those lake-relative keys, never absolute paths."""

from vision_assets.core.lake import keys
from vision_assets.core.lake.atomic import atomic_path, atomic_write_bytes, sha256_bytes, sha256_file
from vision_assets.core.lake.keys import partition_path
from vision_assets.core.lake.store import Lake

__all__ = ["Lake", "atomic_path", "atomic_write_bytes", "keys", "partition_path", "sha256_bytes", "sha256_file"]
