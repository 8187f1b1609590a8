"""lake"""

from vision_assets.core.lake.store import Lake, atomic_path, atomic_write_bytes, partition_path, sha256_file

__all__ = ["Lake", "atomic_path", "atomic_write_bytes", "partition_path", "sha256_file"]
