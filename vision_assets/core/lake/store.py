"""The lake: content-addressed blobs and hive-partitioned Parquet tables behind one root URI.

Local folders by default, any fsspec URL (s3://bucket/prefix) in production. Every write is atomic:
local files are written to a temporary name and renamed; object stores commit whole objects.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import fsspec
import pandas as pd
from fsspec.implementations.local import LocalFileSystem

from vision_assets.core.lake import keys
from vision_assets.core.lake.atomic import HASH_CHUNK, atomic_path, atomic_write_bytes, sha256_bytes, sha256_file


class Lake:
    def __init__(self, root: str):
        self.root = root.rstrip("/")
        self.fs, self._base = fsspec.core.url_to_fs(self.root)
        self.is_local = isinstance(self.fs, LocalFileSystem)

    # -- paths -------------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return "/".join([self._base, *[p.strip("/") for p in parts if p]])

    def uri(self, *parts: str) -> str:
        return self.fs.unstrip_protocol(self.path(*parts)) if not self.is_local else self.path(*parts)

    def local_path(self, *parts: str) -> Path:
        """A local filesystem path for readers that need one (OpenCV, Ultralytics)."""
        if not self.is_local:
            raise NotImplementedError(f"{self.root} is not a local lake; stage files locally first")
        return Path(self.path(*parts))

    def resolve(self, key: str) -> str:
        """A record's reference as a location: a lake-relative key under the configured root. An absolute path (a
        record written before keys, or a file outside the lake handed in directly) is taken as it is."""
        return key if key.startswith("/") or "://" in key else self.path(key)

    def local_copy(self, key: str, cache_dir: Path) -> Path:
        """A local file for a lake key: itself on a local lake, a cached download from an object store.
        Downloads land under a temporary name first, so a killed download is never mistaken for a cached file."""
        location = self.resolve(key)
        if self.is_local:
            return Path(location)
        target = cache_dir / Path(location).name
        if not target.exists():
            with atomic_path(target) as tmp:
                self.fs.get_file(location, str(tmp))
        return target

    def stage_file(self, source: Path, cache_dir: Path) -> tuple[Path, str]:
        """Copy a file to a private staging name while hashing it: the digest is of exactly the bytes staged,
        even if the source is still being written. Local lakes stage inside the lake so commit is a rename."""
        staging = Path(self.path(keys.STAGING)) if self.is_local else cache_dir / "staging"
        staging.mkdir(parents=True, exist_ok=True)
        staged = staging / f"{uuid.uuid4().hex}{source.suffix.lower()}"
        digest = hashlib.sha256()
        with open(source, "rb") as reader, open(staged, "wb") as writer:
            while chunk := reader.read(HASH_CHUNK):
                digest.update(chunk)
                writer.write(chunk)
        return staged, digest.hexdigest()

    def commit_staged(self, staged: Path, relpath: str) -> str:
        """Move a staged file to its final name (returns its key); content-addressed targets that exist are kept."""
        target = self.path(relpath)
        try:
            if self.exists(relpath):
                return relpath
            if self.is_local:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged, target)
            else:
                self.fs.put_file(str(staged), target)
            return relpath
        finally:
            staged.unlink(missing_ok=True)

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path(*parts))

    # -- atomic writes -------------------------------------------------------------------------------
    def write_bytes(self, relpath: str, data: bytes) -> str:
        target = self.path(relpath)
        if self.is_local:
            atomic_write_bytes(Path(target), data)
        else:
            self.fs.pipe_file(target, data)  # object stores commit a PUT whole or not at all
        return relpath

    def put_file(self, relpath: str, source: Path) -> str:
        target = self.path(relpath)
        if self.is_local:
            with atomic_path(Path(target)) as tmp:
                shutil.copyfile(source, tmp)
        else:
            self.fs.put_file(str(source), target)
        return relpath

    def write_json(self, relpath: str, payload: object) -> str:
        return self.write_bytes(relpath, json.dumps(payload, indent=2, sort_keys=True, default=str).encode())

    def read_json(self, relpath: str) -> object:
        with self.fs.open(self.path(relpath), "rb") as handle:
            return json.loads(handle.read())

    # -- content-addressed blobs ---------------------------------------------------------------------
    @staticmethod
    def blob_relpath(kind: str, digest: str, suffix: str) -> str:
        return keys.blob_key(kind, digest, suffix)

    def put_blob_bytes(self, kind: str, data: bytes, suffix: str, digest: str | None = None) -> tuple[str, str, bool]:
        """Returns (digest, key, written); identical content is stored once. Pass digest when the caller
        already hashed the bytes."""
        digest = digest or sha256_bytes(data)
        relpath = self.blob_relpath(kind, digest, suffix)
        if self.exists(relpath):
            return digest, relpath, False
        return digest, self.write_bytes(relpath, data), True

    def put_blob_file(self, kind: str, source: Path, suffix: str, digest: str | None = None) -> tuple[str, str, bool]:
        digest = digest or sha256_file(source)
        relpath = self.blob_relpath(kind, digest, suffix)
        if self.exists(relpath):
            return digest, relpath, False
        return digest, self.put_file(relpath, source), True

    # -- tables ----------------------------------------------------------------------------------------
    def put_blob_tree(self, kind: str, folder: Path) -> tuple[str, str, bool]:
        """A folder (a YOLO label set) as one blob: its files stored one by one, and a manifest naming them.

        The manifest's hash is the folder's content address."""
        entries = {str(p.relative_to(folder)): self.put_blob_file(kind, p, p.suffix.lower())[0]
                   for p in sorted(folder.rglob("*")) if p.is_file()}
        return self.put_blob_bytes(kind, json.dumps(entries, sort_keys=True, indent=1).encode(), ".tree.json")

    @staticmethod
    def table_relpath(table: str, partition: Mapping[str, str] | None = None) -> str:
        return keys.table_key(table, partition)

    def write_table(self, table: str, df: pd.DataFrame, partition: Mapping[str, str] | None = None) -> str:
        """One Parquet file per partition, replaced whole, so a rerun is idempotent."""
        buffer = io.BytesIO()
        df.to_parquet(buffer, index=False)
        return self.write_bytes(self.table_relpath(table, partition), buffer.getvalue())

    def read_table(self, table: str, partition: Mapping[str, str] | None = None) -> pd.DataFrame | None:
        relpath = self.table_relpath(table, partition)
        if not self.exists(relpath):
            return None
        with self.fs.open(self.path(relpath), "rb") as handle:
            return pd.read_parquet(handle)

    def table_partitions(self, table: str) -> list[dict[str, str]]:
        """Partitions present in a hive-style table, found by listing (the lake is its own index)."""
        pattern = self.path(keys.table_folder(table), "**", keys.PARQUET_FILE)
        found = []
        for file in sorted(self.fs.glob(pattern)):
            rel = file[len(self.path(keys.table_folder(table))) :].strip("/").split("/")[:-1]
            found.append(dict(segment.split("=", 1) for segment in rel))
        return found

    def read_tables(self, table: str, partitions: Iterable[Mapping[str, str]] | None = None) -> pd.DataFrame:
        frames = []
        for partition in partitions if partitions is not None else self.table_partitions(table):
            df = self.read_table(table, partition)
            if df is not None and len(df):
                frames.append(df.assign(**partition))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

