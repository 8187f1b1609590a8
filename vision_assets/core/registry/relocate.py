"""A copied data folder's MLflow store, pointed at its own artifacts.

MLflow records absolute artifact locations: the experiment's, each run's, each model version's and each logged
model's. In a copy of the data folder those still name the original folder, so every new run of the copy stored
its artifacts there, the copy's MLflow UI read the original's files, and a model could not be loaded from the
copy once the original was gone. MLflow's API cannot change a location, so the SQLite store is repaired in
place, once, on first use: every local location that is not under the configured artifact root, whose folder
the copy holds under that root, is rewritten to it. Remote roots (S3) and databases other than SQLite are
shared, not copied, and are left alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

# (table, key column, location columns) MLflow keeps absolute artifact locations in.
_LOCATION_COLUMNS = (
    ("runs", "run_uuid", ("artifact_uri",)),
    ("model_versions", "rowid", ("source", "storage_location")),
    ("logged_models", "model_id", ("artifact_location",)),
)


def local_path(uri: str) -> Path | None:
    """The folder a local artifact location names (file:// URI or plain path); None for a remote one."""
    if uri.startswith("file:"):
        return Path(unquote(urlparse(uri).path))
    if "://" in uri or not uri.startswith("/"):
        return None
    return Path(uri)


def repair_copied_store(tracking_uri: str, artifact_root: str) -> list[tuple[str, str]]:
    """Rewrite the store's artifact locations that belong under artifact_root; the (old, new) experiment
    locations rewritten (empty when nothing needed it, which is every use after the first)."""
    if not tracking_uri.startswith("sqlite:///"):
        return []
    database = Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])
    root = local_path(artifact_root)
    if root is None or not database.is_file():
        return []
    with sqlite3.connect(database, timeout=60) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "experiments" not in tables:
            return []
        moves = []
        for experiment_id, location in connection.execute("SELECT experiment_id, artifact_location FROM experiments"):
            old = local_path(location or "")
            if old is None or old.parent == root:
                continue
            new = root / old.name
            if new.is_dir() and not _same_folder(old, new):  # the copy holds this experiment's artifacts
                moves.append((experiment_id, old, new))
        if not moves:
            return []
        connection.execute("BEGIN IMMEDIATE")  # one repairer at a time; a second finds nothing left to do
        repaired = []
        for experiment_id, old, new in moves:
            current = connection.execute("SELECT artifact_location FROM experiments WHERE experiment_id = ?",
                                         (experiment_id,)).fetchone()[0]
            if local_path(current) != old:
                continue
            connection.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                               (new.as_uri(), experiment_id))
            for table, key, columns in _LOCATION_COLUMNS:
                if table in tables:
                    _rewrite(connection, table, key, columns, old, new)
            repaired.append((str(old), str(new)))
        return repaired


def _rewrite(connection: sqlite3.Connection, table: str, key: str, columns: tuple[str, ...], old: Path,
             new: Path) -> None:
    """Every location in `table` under old, the same place under new (in the form it was written in)."""
    prefixes = [(old.as_uri(), new.as_uri()), (f"file://{old}", new.as_uri()), (str(old), str(new))]
    present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
    for column in columns:
        if column not in present:
            continue
        rows = connection.execute(f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL").fetchall()
        for row_key, value in rows:
            for before, after in prefixes:
                if value == before or value.startswith(before + "/"):
                    connection.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?",
                                       (after + value[len(before):], row_key))
                    break


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.exists() and a.samefile(b)
    except OSError:
        return False
