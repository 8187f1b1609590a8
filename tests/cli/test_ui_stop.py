"""Stopping `vision-assets ui` stops everything it started: a real `vision-assets ui` on free loopback ports
(dagster dev with its webserver, daemon and code server; the MLflow UI with its workers), SIGTERM to it, and
none of those processes remains."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _serving(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
        return True
    except OSError:
        return False


def test_sigterm_to_the_ui_ends_every_process_it_started(tmp_path):
    port, mlflow_port, links_port = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "VISION_DATA_DIR": str(tmp_path / "data")}
    env.pop("DAGSTER_HOME", None)
    log = (tmp_path / "ui.log").open("w")
    ui = subprocess.Popen([sys.executable, "-m", "vision_assets.cli", "ui", "--port", str(port),
                           "--mlflow-port", str(mlflow_port), "--links-port", str(links_port)], env=env, stdout=log,
                          stderr=subprocess.STDOUT)
    started = set()
    try:
        deadline = time.monotonic() + 240  # a hang guard: dagster dev loads the code location first
        while time.monotonic() < deadline and not (_serving(f"http://127.0.0.1:{port}/server_info")
                                                   and _serving(f"http://127.0.0.1:{mlflow_port}/")):
            assert ui.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            time.sleep(1)
        assert _serving(f"http://127.0.0.1:{port}/server_info"), (tmp_path / "ui.log").read_text()[-3000:]
        started = _descendants(ui.pid)
        commands = " ".join(Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ") for p in started if _running(p))
        assert "dagster" in commands and "mlflow" in commands  # dagster dev, its webserver and daemon; mlflow ui
        # The links server beside them serves the scene x day grid from the same instance (empty: nothing landed).
        grid = urllib.request.urlopen(f"http://127.0.0.1:{links_port}/grid", timeout=30).read().decode()
        assert "0 scene-days with footage" in grid and f"http://127.0.0.1:{port})" in grid

        ui.send_signal(signal.SIGTERM)
        code = ui.wait(timeout=120)

        assert code == 128 + signal.SIGTERM
        left = sorted(p for p in started if _running(p))
        assert left == [], [Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ") for p in left]
        assert not _serving(f"http://127.0.0.1:{port}/server_info")
    finally:
        for pid in [ui.pid, *started]:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        ui.wait()
        log.close()
