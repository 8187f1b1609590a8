"""Registry writes that read first (promote, rollback) are serialised: concurrent promotes never leave the
champion history a loop."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from vision_assets.core.registry import ModelRegistry
from vision_assets.core.registry.mlflow_registry import PREVIOUS_CHAMPION_TAG


def _registry(root) -> ModelRegistry:
    return ModelRegistry(f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri())


@pytest.fixture
def root(tmp_path):
    registry = _registry(tmp_path)
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    for n in range(3):
        with registry.run(f"train-{n}", {}) as run_id:
            registry.log_artifact(run_id, weights, "weights")
        registry.register("det", run_id, "weights", {"checkpoint_sha256": f"sha{n}"})
    return tmp_path


def _promote_in_turn(root, versions: list[str], start: multiprocessing.Event) -> None:
    registry = _registry(root)
    start.wait()
    for version in versions:
        registry.promote("det", version)


def _history(registry: ModelRegistry) -> list[str]:
    """The champion, then what each replaced; fails on a loop."""
    seen, version = [], registry.champion("det")
    while version is not None:
        assert str(version.version) not in seen, f"previous_champion loops: {seen + [str(version.version)]}"
        seen.append(str(version.version))
        previous = version.tags.get(PREVIOUS_CHAMPION_TAG)
        version = registry.client.get_model_version("det", previous) if previous else None
    return seen


def test_two_concurrent_promoters_leave_a_champion_history_without_loops(root):
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Event()
    workers = [spawn.Process(target=_promote_in_turn, args=(root, ["1", "2"] * 4, start)),
               spawn.Process(target=_promote_in_turn, args=(root, ["2", "1", "3"] * 3, start))]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=300)
        assert worker.exitcode == 0

    registry = _registry(root)
    history = _history(registry)
    assert history[0] == str(registry.champion("det").version)
    while True:  # rollback walks the history down and ends, never bouncing between two versions
        try:
            restored = registry.rollback("det")
        except LookupError:
            break
        assert restored == history[1]
        history = history[1:]


def test_a_promote_waits_for_a_registry_write_in_progress(root):
    holder, promoter = _registry(root), _registry(root)
    holder.promote("det", "1")
    done = threading.Event()

    with holder.write_lock():
        thread = threading.Thread(target=lambda: (promoter.promote("det", "2"), done.set()))
        thread.start()
        assert not done.wait(2), "promote wrote while another registry write held the lock"
        assert str(holder.champion("det").version) == "1"
    thread.join(timeout=120)

    assert done.is_set() and str(holder.champion("det").version) == "2"
    assert holder.client.get_model_version("det", "2").tags[PREVIOUS_CHAMPION_TAG] == "1"


def test_promoting_back_the_version_a_champion_replaced_keeps_the_history_a_line(root):
    registry = _registry(root)
    for version in ("1", "2", "3", "2"):
        registry.promote("det", version)

    assert _history(registry) == ["2", "1"]
    assert registry.rollback("det") == "1"
