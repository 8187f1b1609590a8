"""The project's MLflow: training runs, the model registry, and the champion alias with rollback."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

from vision_assets.core.errors import VisionError

# The registered model every deployment trains into unless configured otherwise; here, not in the Dagster
# resource, so the command line and the core agree on it without importing Dagster.
DEFAULT_MODEL_NAME = "vision_assets_detector"
CHAMPION = "champion"
# A candidate the gate refused: kept at hand for a person to compare or override (`vision-assets promote`).
CHALLENGER = "challenger"
# Set on each version that becomes champion, so a rollback knows what it replaced.
PREVIOUS_CHAMPION_TAG = "previous_champion"
# MLflow's answers when a model, version or alias simply does not exist (as opposed to the server failing).
_NOT_FOUND = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"})


class RegistryError(VisionError, LookupError):
    """A registry request that cannot be served as asked: an unknown version, no versions yet. One line for users."""


class RegistryUnavailable(VisionError, RuntimeError):
    """The registry could not be asked at all (server down, database unreachable): never read as "no champion"."""


def _unavailable(what: str, error: Exception) -> RegistryUnavailable:
    from vision_assets.core.registry.redact import redact

    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return RegistryUnavailable(redact(f"MLflow registry unreachable while {what}: {first[:300]}"))


class ModelRegistry:
    def __init__(self, tracking_uri: str, artifact_root: str, experiment: str = "vision_assets"):
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root.rstrip("/")
        self.experiment = experiment
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        for logger in ("mlflow", "urllib3"):
            if not any(isinstance(f, _RedactingFilter) for f in logging.getLogger(logger).filters):
                logging.getLogger(logger).addFilter(_RedactingFilter())
        self._client = None

    @property
    def client(self):
        """MLflow's client, made on first use: making it creates a SQLite database, which reads must not."""
        if self._client is None:
            from mlflow import MlflowClient

            from vision_assets.core.registry.relocate import repair_copied_store

            repair_copied_store(self.tracking_uri, self.artifact_root)  # before MLflow reads any location
            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    def store_exists(self) -> bool:
        """False for a SQLite registry whose file was never created: reading commands then report "nothing yet"
        instead of creating the database."""
        if self.tracking_uri.startswith("sqlite:///"):
            return Path(self.tracking_uri.removeprefix("sqlite:///").split("?", 1)[0]).exists()
        return True

    def experiment_id(self) -> str:
        location = f"{self.artifact_root}/{self.experiment}"
        found = self.client.get_experiment_by_name(self.experiment)
        if found and _same_location(found.artifact_location, location):
            return found.experiment_id
        if found:
            # The artifact root was configured elsewhere (a copied folder's own store was already repaired when the
            # client was made: relocate.py). MLflow cannot change an experiment's artifact location, and new runs
            # must go where they are configured to: the old runs stay readable, at their place, under a new name.
            self.client.rename_experiment(found.experiment_id, f"{self.experiment} (before moving, {found.experiment_id})")
        # An explicit location keeps artifacts out of the working directory (MLflow's default is ./mlruns).
        return self.client.create_experiment(self.experiment, artifact_location=location)

    def artifact_uri(self, uri: str, run_id: str) -> str:
        """A run's artifact URI where it is now: a local URI recorded before the data folder moved is found again
        under the configured artifact root (<root>/<experiment folder>/<run id>/artifacts/...)."""
        if not _moved(uri):
            return uri
        path = uri.removeprefix("file://")
        at = path.find(f"/{run_id}/")
        if at < 0:
            return uri
        relocated = f"{self.artifact_root}/{Path(path[:at]).name}{path[at:]}"
        return relocated if not _moved(relocated) else uri

    @contextmanager
    def run(self, run_name: str, tags: dict[str, str]):
        """An MLflow run that is marked FAILED if the body raises."""
        run = self.client.create_run(self.experiment_id(), run_name=run_name, tags=tags)
        run_id = run.info.run_id
        try:
            yield run_id
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id, status="FINISHED")

    def log_params(self, run_id: str, params: dict) -> None:
        from mlflow.entities import Param

        self.client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        safe = {k.replace("(", "_").replace(")", ""): float(v) for k, v in metrics.items()}
        self.client.log_batch(run_id, metrics=[Metric(k, v, now, step) for k, v in safe.items()])

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    # -- registry --------------------------------------------------------------------------------------
    def find_version(self, name: str, tag: str, value: str):
        """The version tagged tag=value, or None; reads only (a missing registered model is not created)."""
        from mlflow.exceptions import MlflowException

        if not self.store_exists():
            return None
        try:
            found = self.client.search_model_versions(f"name='{name}' and tags.{tag}='{value}'")
        except MlflowException as error:
            if error.error_code in _NOT_FOUND:
                return None
            raise _unavailable(f"searching {name}", error) from error
        return found[0] if found else None

    def get_version(self, name: str, version: str):
        """The model version, or RegistryError naming what is wrong (not a number, unknown, no versions)."""
        from mlflow.exceptions import MlflowException

        if not str(version).isdigit():
            raise RegistryError(f"model version {version!r} is not a version number (e.g. 3)")
        if not self.store_exists():
            raise RegistryError(f"model {name} has no versions yet: train one first")
        try:
            return self.client.get_model_version(name, str(version))
        except MlflowException as error:
            if error.error_code not in _NOT_FOUND:
                raise _unavailable(f"reading {name} v{version}", error) from error
            known = self.versions(name)
            if not known:
                raise RegistryError(f"model {name} has no versions yet: train one first") from None
            raise RegistryError(f"model {name} has no version {version} (versions: "
                                f"{', '.join(known)})") from None

    def versions(self, name: str) -> list[str]:
        return [str(v.version) for v in self.all_versions(name)]

    def all_versions(self, name: str) -> list:
        """Every version of the model, oldest first; empty when the model does not exist."""
        from mlflow.exceptions import MlflowException

        if not self.store_exists():
            return []
        try:
            found = self.client.search_model_versions(f"name='{name}'")
        except MlflowException as error:
            if error.error_code in _NOT_FOUND:
                return []
            raise _unavailable(f"listing {name}", error) from error
        return sorted(found, key=lambda v: int(v.version))

    def aliases(self, name: str) -> dict[str, str]:
        """{alias: version} of the registered model; empty when it does not exist."""
        from mlflow.exceptions import MlflowException

        if not self.store_exists():
            return {}
        try:
            return {k: str(v) for k, v in self.client.get_registered_model(name).aliases.items()}
        except MlflowException as error:
            if error.error_code in _NOT_FOUND:
                return {}
            raise _unavailable(f"reading {name}'s aliases", error) from error

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, str(version))

    def register(self, name: str, run_id: str, artifact_path: str, tags: dict[str, str], description: str = ""):
        self._ensure_model(name)
        return self.client.create_model_version(name, source=f"runs:/{run_id}/{artifact_path}", run_id=run_id,
                                                tags={k: str(v) for k, v in tags.items()}, description=description)

    def champion(self, name: str):
        """The champion version; None when the model or the alias does not exist, RegistryUnavailable when the
        registry cannot be asked (so an outage never reads as "no champion yet")."""
        return self.by_alias(name, CHAMPION)

    def by_alias(self, name: str, alias: str):
        from mlflow.exceptions import MlflowException

        if not self.store_exists():
            return None
        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException as error:
            if error.error_code in _NOT_FOUND:
                return None
            raise _unavailable(f"reading {name}@{alias}", error) from error
        except Exception as error:  # a driver error below MLflow (database file unreadable, connection reset)
            raise _unavailable(f"reading {name}@{alias}", error) from error

    @contextmanager
    def write_lock(self):
        """Registry writes that read before they write (promote, rollback) one at a time: two concurrent promotes
        each read the same champion and left previous_champion pointing v1 <-> v2. A file lock beside the SQLite
        store (so every process on the data folder shares it), else one per tracking URI on this host."""
        import fcntl
        import hashlib
        import tempfile

        if self.tracking_uri.startswith("sqlite:///"):
            database = Path(self.tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])
            database.parent.mkdir(parents=True, exist_ok=True)
            lock_path = database.with_name(f".{database.name}.registry.lock")
        else:
            digest = hashlib.sha256(self.tracking_uri.encode()).hexdigest()[:16]
            lock_path = Path(tempfile.gettempdir()) / f"vision_assets_registry_{digest}.lock"
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, also if the body raises
            yield

    def promote(self, name: str, version: str) -> None:
        self.get_version(name, version)  # a clear error for an unknown version, before any alias moves
        with self.write_lock():
            current = self.champion(name)  # read under the lock: what this promotion really replaces
            if current is not None and str(current.version) == str(version):
                return
            if current is not None and str(version) not in self._champion_history(name, current):
                self.client.set_model_version_tag(name, str(version), PREVIOUS_CHAMPION_TAG, str(current.version))
            # else the version comes back over one that replaced it: it keeps what it replaced, so the history
            # stays a line that rollback walks down, never a loop.
            self.client.set_registered_model_alias(name, CHAMPION, str(version))

    def _champion_history(self, name: str, current) -> list[str]:
        """The current champion and the versions it replaced, newest first (previous_champion, followed)."""
        history, version = [], current
        while version is not None and str(version.version) not in history:
            history.append(str(version.version))
            previous = version.tags.get(PREVIOUS_CHAMPION_TAG)
            version = self.client.get_model_version(name, previous) if previous else None
        return history

    def rollback(self, name: str) -> str:
        """Give the champion alias back to the version the current champion replaced."""
        with self.write_lock():
            current = self.champion(name)
            if current is None:
                raise RegistryError(f"model {name!r} has no {CHAMPION}")
            previous = current.tags.get(PREVIOUS_CHAMPION_TAG)
            if not previous:
                raise RegistryError(f"{name} v{current.version} replaced no earlier champion: nothing to roll back to")
            self.client.set_registered_model_alias(name, CHAMPION, previous)
            self.client.set_model_version_tag(name, str(current.version), "rolled_back", "true")
            return previous

    def download(self, name: str, version: str, dst: Path) -> Path:
        """The version's artifacts in dst; fetched into a temporary folder first, so dst is complete or absent."""
        import mlflow.artifacts

        if dst.exists():
            return dst
        partial = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.partial")
        partial.mkdir(parents=True)
        try:
            run_id = self.client.get_model_version(name, str(version)).run_id
            source = self.client.get_model_version_download_uri(name, str(version))
            if source.startswith(f"runs:/{run_id}/"):  # resolved here, so a moved artifact root is found again
                source = f"{self.client.get_run(run_id).info.artifact_uri}/{source.removeprefix(f'runs:/{run_id}/')}"
            source = self.artifact_uri(source, run_id)
            if _moved(source):
                raise FileNotFoundError(f"{name} v{version}: its artifacts are not at {source} nor under "
                                        f"{self.artifact_root}")
            fetched = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(partial),
                                                          tracking_uri=self.tracking_uri)
            # MLflow nests a directory artifact under its own name; flatten so dst holds the files.
            for item in Path(fetched).iterdir():
                os.replace(item, partial / item.name)
            try:
                os.rename(partial, dst)
            except OSError:
                if not dst.exists():
                    raise  # else another process completed the same download first
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return dst

    def _ensure_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name, description="Object detector trained by vision_assets")


class _RedactingFilter(logging.Filter):
    """Log records of MLflow and its HTTP client with URI credentials and secret values masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        from vision_assets.core.registry.redact import redact

        record.msg, record.args = redact(record.getMessage()), ()
        return True


def _same_location(recorded: str, configured: str) -> bool:
    """Equal locations, a local one however it is spelled (a plain path or a file:// URI)."""
    from vision_assets.core.registry.relocate import local_path

    if recorded.rstrip("/") == configured.rstrip("/"):
        return True
    here, there = local_path(recorded), local_path(configured)
    return here is not None and here == there


def _moved(uri: str) -> bool:
    """A local (file) URI whose folder is gone: recorded before the data folder moved. Remote URIs never are."""
    if "://" in uri and not uri.startswith("file://"):
        return False
    return not Path(uri.removeprefix("file://")).exists()
