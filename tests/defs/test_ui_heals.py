"""`make ui` heals itself, with the real `vision-assets ui` (dagster dev: webserver, daemon, code server) on free
loopback ports and a tiny data folder: a run worker killed with SIGKILL is failed as worker_died and its work runs
again by the retry sensor; then the code server is killed (dagster dev's code-server manager starts it again), then
the daemon (dagster dev shuts down; vision-assets ui starts it again), and sensors tick again each time; nobody runs
a command."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

CLI = str(Path(sys.executable).with_name("vision-assets"))
GIVE_UP_S = 600  # generous: the machine is shared; a heal that never comes is a failure, not a hang


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _instance(home: Path) -> dg.DagsterInstance:
    from dagster._core.instance.ref import InstanceRef

    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def _run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The default launcher records its run worker's pid ('Started process for run')."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        metadata = entry.dagster_event.engine_event_data.metadata
        if "pid" in metadata and entry.dagster_event.message.startswith("Started process for run"):
            return int(metadata["pid"].value)
    return None


def _processes_of_session(session: int, command: str) -> list[int]:
    """Processes running `command` that `vision-assets ui` (the leader of `session`) started, however deep: its
    children run in process groups and sessions of their own, so they are found by parentage."""
    parents = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit():
                parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue

    def descends(pid: int) -> bool:
        while pid > 1:
            if pid == session:
                return True
            pid = parents.get(pid, 0)
        return False

    found = []
    for pid in parents:
        try:
            if descends(pid) and command in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode():
                found.append(pid)
        except OSError:
            continue
    return found


def _wait_for(what: str, found, ui: subprocess.Popen, log: Path):
    deadline = time.monotonic() + GIVE_UP_S
    while time.monotonic() < deadline:
        assert ui.poll() is None, f"vision-assets ui exited: {log.read_text()[-4000:]}"
        value = found()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {GIVE_UP_S} s: {log.read_text()[-4000:]}")


@pytest.mark.slow  # the real dagster dev with its daemon
def test_a_killed_run_worker_is_failed_and_its_work_done_again_under_make_ui(tmp_path, tiny_landing, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("DAGSTER_HOME", str(data / "dagster_home"))  # dagster.yaml names it; env drops it for the ui
    shutil.copytree(tiny_landing / "cam-a", data / "landing" / "cam-a")
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "MLFLOW_TRACKING_URI")}
    env.update(VISION_DATA_DIR=str(data), VISION_EPOCHS="1", VISION_IMGSZ="64")
    log = tmp_path / "ui.log"
    with open(log, "wb") as out:
        port = _free_port()
        ui = subprocess.Popen([CLI, "ui", "--port", str(port), "--mlflow-port", str(_free_port())],
                              env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        home = data / "dagster_home"
        # `ui` prints its addresses once it has created the instance's databases: opening them before that raced
        # with it on a fresh schedules.db ("alembic_version has more than one head").
        _wait_for("the instance", lambda: b"UI: http" in log.read_bytes(), ui, log)
        instance = _instance(home)

        def ingest_worker():
            for run in instance.get_runs(dg.RunsFilter(job_name="ingest_videos")):
                pid = _run_worker_pid(instance, run.run_id)
                if pid:
                    return run, pid
            return None

        killed, pid = _wait_for("an ingest run worker", ingest_worker, ui, log)
        os.kill(pid, signal.SIGKILL)

        def retried():
            instance = _instance(home)
            dead = instance.get_run_by_id(killed.run_id)
            children = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": killed.run_id}))
            done = [r for r in children if r.status == dg.DagsterRunStatus.SUCCESS]
            return (dead, done) if dead.status == dg.DagsterRunStatus.FAILURE and done else None

        dead, done = _wait_for("the retry of the killed run", retried, ui, log)
        assert dead.tags["vision/failure"] == "worker_died"
        assert [r.tags["dagster/sensor_name"] for r in done] == ["retry_sensor"]
        assert done[0].tags["dagster/retry_number"] == "1" and done[0].tags["dagster/partition"] == killed.tags[
            "dagster/partition"]
        assert killed.tags["dagster/partition"] in _instance(home).get_materialized_partitions(dg.AssetKey("raw_videos"))

        # The code server killed (dagster dev's code-server proxy and the gRPC server it runs): sensors must tick again.
        from vision_assets.local.ui_supervisor import CODE_LOCATION, TICKS_QUERY, WATCHED_SENSOR, graphql

        servers = _processes_of_session(ui.pid, "dagster code-server start") + _processes_of_session(
            ui.pid, "dagster api grpc")
        assert servers, "no code server found"
        for pid in servers:
            os.kill(pid, signal.SIGKILL)
        killed_at = time.time()

        def ticking_again():
            try:
                ticks = graphql(f"http://127.0.0.1:{port}", TICKS_QUERY % (CODE_LOCATION, WATCHED_SENSOR))
            except OSError:
                return None
            tick = (ticks["sensorOrError"].get("sensorState") or {}).get("ticks", [None])[0]
            return tick if tick and tick["timestamp"] > killed_at + 5 and tick["status"] != "FAILURE" else None

        _wait_for("sensors ticking again after the code server was killed", ticking_again, ui, log)

        # The daemon killed: dagster dev shuts itself down; vision-assets ui starts it again.
        daemons = _processes_of_session(ui.pid, "dagster._daemon run")
        assert len(daemons) == 1
        os.kill(daemons[0], signal.SIGKILL)
        killed_at = time.time()
        _wait_for("sensors ticking again after the daemon was killed", ticking_again, ui, log)
        assert "vision-assets ui: dagster dev exited" in log.read_text()
        assert _processes_of_session(ui.pid, "dagster._daemon run") != daemons
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGINT)
            try:
                ui.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        os.killpg(ui.pid, signal.SIGKILL) if ui.poll() is None else None
