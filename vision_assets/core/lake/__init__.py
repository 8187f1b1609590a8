"""The lake: one root URI (a local folder or s3://...), content-addressed blobs, hive-partitioned tables, atomic writes.

`keys` names every object in it; records hold those lake-relative keys, never absolute paths.
`Lake` (fsspec, pandas) loads on first use: the key and atomic-write helpers are light and imported everywhere."""

from vision_assets.core.lake import keys
from vision_assets.core.lake.atomic import atomic_path, atomic_write_bytes, sha256_bytes, sha256_file
from vision_assets.core.lake.keys import partition_path
from vision_assets.lazy import lazy_exports

__all__ = ["Lake", "atomic_path", "atomic_write_bytes", "keys", "partition_path", "sha256_bytes", "sha256_file"]
__getattr__, __dir__ = lazy_exports(__name__, {"Lake": "store"})
