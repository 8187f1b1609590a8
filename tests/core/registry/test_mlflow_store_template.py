"""A new MLflow store made from the tests' template (tests/mlflow_template.py) is the store MLflow itself makes:
the same tables, indexes and schema revision, the same Default experiment, and runs under the store's own root."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing

MLFLOW_MAKES_A_STORE = """
import sys
from vision_assets.core.registry import ModelRegistry
registry = ModelRegistry(sys.argv[1], sys.argv[2])
with registry.run("train", {}):
    pass
print(registry.client.get_experiment("0").artifact_location)
"""


def _schema(path) -> tuple:
    """Tables with their columns, indexes with theirs, and the alembic revision. Not the CREATE text: MLflow writes
    its CHECK constraints' values in set order, which differs between processes (string hashing is salted)."""
    with closing(sqlite3.connect(path)) as db:
        objects = db.execute("SELECT type, name, tbl_name FROM sqlite_master ORDER BY type, name").fetchall()
        columns = {name: db.execute(f'PRAGMA table_info("{name}")').fetchall()
                   for kind, name, _ in objects if kind == "table"}
        indexes = {name: db.execute(f'PRAGMA index_info("{name}")').fetchall()
                   for kind, name, _ in objects if kind == "index"}
        return objects, columns, indexes, db.execute("SELECT version_num FROM alembic_version").fetchall()


def test_a_store_from_the_template_is_the_store_mlflow_makes(tmp_path):
    from vision_assets.core.registry import ModelRegistry

    ordinary = tmp_path / "ordinary"
    ordinary.mkdir()
    made = subprocess.run([sys.executable, "-c", MLFLOW_MAKES_A_STORE, f"sqlite:///{ordinary / 'mlflow.db'}",
                           (ordinary / "artifacts").as_uri()], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    ordinary_default = made.stdout.strip().splitlines()[-1]
    stores = []
    for name in ("a", "b"):  # the first of a process may make the template: the second surely comes from it
        registry = ModelRegistry(f"sqlite:///{tmp_path / name / 'mlflow.db'}", (tmp_path / name / "artifacts").as_uri())
        with registry.run("train", {}) as run_id:
            pass
        stores.append((name, registry, run_id))

    for name, registry, run_id in stores:
        assert _schema(tmp_path / name / "mlflow.db") == _schema(ordinary / "mlflow.db"), name
        default = registry.client.get_experiment("0")
        assert (default.name, default.artifact_location) == ("Default", ordinary_default)
        assert registry.client.get_run(run_id).info.artifact_uri.startswith((tmp_path / name / "artifacts").as_uri())
