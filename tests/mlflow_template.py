"""A new MLflow SQLite store in the tests starts as a copy of one made once per test process.

MLflow creates a store by running every schema migration (alembic), 3-4 s of CPU for each of the dozens of
registries the tests make. Here the first store is made the ordinary way, in the session's temp folder, and later
ones receive its tables through SQLite's backup API: the same schema and the same revision, from the same MLflow.
The template holds no experiment, so MLflow still adds the Default experiment with the new store's own artifact
root (what it does on a fresh store). Only this process's stores: subprocesses (CLI, webserver) make theirs as
usual. If MLflow renames the hooked function the tests simply run the migrations again.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from contextlib import closing
from pathlib import Path

_lock = threading.Lock()
_template: Path | None = None


def _sqlite_file(engine) -> str | None:
    url = engine.url
    return url.database if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") else None


def install(session_tmp: Path) -> None:
    try:
        import mlflow.store.db.utils as db_utils
        import mlflow.store.model_registry.sqlalchemy_store as registry_store
    except ImportError:
        return
    original = getattr(db_utils, "_initialize_tables", None)
    if original is None or getattr(original, "_from_template", False):
        return

    def initialize_from_template(engine) -> None:
        global _template
        target = _sqlite_file(engine)
        if target is None:
            return original(engine)
        with _lock:
            if _template is None:
                made = Path(tempfile.mkdtemp(prefix="mlflow_template_", dir=session_tmp)) / "mlflow.db"
                original(engine)  # this store is made the ordinary way; its tables become the template
                engine.dispose()
                with closing(sqlite3.connect(target)) as source, closing(sqlite3.connect(made)) as copy:
                    source.backup(copy)
                    copy.execute("DELETE FROM experiments")  # re-created per store, with that store's root
                    copy.commit()
                _template = made
                return None
            template = _template
        engine.dispose()
        with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(target)) as copy:
            source.backup(copy)
        return None

    initialize_from_template._from_template = True
    db_utils._initialize_tables = initialize_from_template
    if getattr(registry_store, "_initialize_tables", None) is original:
        registry_store._initialize_tables = initialize_from_template
