"""The lake: content-addressed blobs and hive-partitioned Parquet tables behind one root URI.

Local folders by default, any fsspec URL (s3://bucket/prefix) in production. Every write is atomic:
local files are written to a temporary name and renamed; object stores commit whole objects.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import fsspec
import pandas as pd
from fsspec.implementations.local import LocalFileSystem

from vision_assets.core.errors import VisionError
from vision_assets.core.lake import keys
from vision_assets.core.lake.atomic import HASH_CHUNK, atomic_path, atomic_write_bytes, sha256_bytes, sha256_file

_CONTENT_ADDRESS = re.compile(r"[0-9a-f]{64}")


def _storage_options(root: str) -> dict:
    """S3 takes its endpoint from the standard AWS_ENDPOINT_URL (an S3-compatible store), and credentials from
    boto's usual chain. Passed explicitly, the endpoint is part of fsspec's instance cache key, so a process that
    is pointed at another endpoint never reuses a client of the old one."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return {"endpoint_url": endpoint} if root.startswith(("s3://", "s3a://")) and endpoint else {}


class MissingRecord(VisionError, FileNotFoundError):
    """A JSON record the lake should hold and does not."""


class CorruptRecord(VisionError, ValueError):
    """A JSON record that does not parse."""


class UnreadableTable(VisionError, ValueError):
    """A Parquet partition file that cannot be read (truncated, not Parquet)."""

    def __init__(self, key: str, error: Exception):
        super().__init__(f"lake table {key}: unreadable ({type(error).__name__}: {' '.join(str(error).split())[:160]})")
        self.key = key


class Lake:
    def __init__(self, root: str):
        self.root = root.rstrip("/")
        self.fs, self._base = fsspec.core.url_to_fs(self.root, **_storage_options(self.root))
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self.downloads = 0  # objects fetched into local caches by this instance (local_copy)
        self.unreadable_tables: list[str] = []  # "<key>: <problem>" of partition files read_tables skipped

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
        """A local file for a lake key (for OpenCV, PyAV, Ultralytics): itself on a local lake, a cached download
        from an object store. A content-addressed name (a sha256 in it) is its own cache key, so a second run
        downloads nothing; any other key is cached under its own path and fetched again only when the object's
        ETag changed. Downloads land under a temporary name first, so a killed one is never taken for a copy."""
        location = self.resolve(key)
        if self.is_local:
            return Path(location)
        name = Path(location).name
        if _CONTENT_ADDRESS.search(name):
            target = cache_dir / name
            if not target.exists():
                self._download(location, target)
            return target
        target = cache_dir / "by_key" / key.strip("/")
        tag_file = target.with_name(f".{target.name}.etag")
        etag = str(self.fs.info(location).get("ETag", ""))
        if not (target.exists() and tag_file.exists() and tag_file.read_text() == etag and etag):
            self._download(location, target)
            atomic_write_bytes(tag_file, etag.encode())
        return target

    def _download(self, location: str, target: Path) -> None:
        with atomic_path(target) as tmp:
            self.fs.get_file(location, str(tmp))
        self.downloads += 1

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
        """A JSON record; a typed record (core/records.py) is written as its JSON, never as its repr."""
        if hasattr(payload, "to_json"):
            payload = payload.to_json()
        return self.write_bytes(relpath, json.dumps(payload, indent=2, sort_keys=True, default=str).encode())

    def read_json(self, relpath: str) -> object:
        """A JSON record by lake key; a missing or corrupt one is a one-line error naming the key."""
        try:
            with self.fs.open(self.path(relpath), "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise MissingRecord(f"lake record {relpath}: does not exist") from None
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as error:
            raise CorruptRecord(f"lake record {relpath}: not valid JSON ({error})") from None

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
        try:
            with self.fs.open(self.path(relpath), "rb") as handle:
                return pd.read_parquet(handle)
        except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError: truncated, not Parquet
            raise UnreadableTable(relpath, error) from None

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
            try:
                df = self.read_table(table, partition)
            except UnreadableTable as error:  # one broken partition file never hides all the others
                self.unreadable_tables.append(str(error))
                logging.getLogger(__name__).warning("skipped: %s", error)
                continue
            if df is not None and len(df):
                frames.append(df.assign(**partition))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

