"""Third-party tools the tests drive for real, each in its own cached virtualenv (deploy/tool_venvs.sh creates them;
.ci/run does so before the tests): Label Studio as a server on loopback, Datumaro and FiftyOne as importers run in
their own interpreter."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import REPO_ROOT

TOOL_VENVS = Path(os.environ.get("VISION_TOOL_VENVS", Path.home() / ".cache" / "vision_assets"))


def tool_venv(name: str) -> Path:
    """The tool's virtualenv, created on first use (minutes, once); the test skips, saying why, if it cannot be."""
    venv = TOOL_VENVS / f"{name}-venv"
    if not (venv / ".installed").exists():
        made = subprocess.run(["bash", str(REPO_ROOT / "deploy" / "tool_venvs.sh"), name], capture_output=True,
                              text=True, timeout=1800)
        if made.returncode or not (venv / ".installed").exists():
            pytest.skip(f"the {name} virtualenv cannot be created here ({venv}): {made.stderr.strip()[-300:]}")
    return venv


def run_in_venv(venv: Path, script: str, *args: str, env: dict | None = None, timeout: float = 600) -> str:
    """Runs a Python script in the tool's interpreter; its stdout, or the test fails with its stderr."""
    done = subprocess.run([str(venv / "bin" / "python"), "-c", script, *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LABEL_STUDIO_USER = "annotator@example.com"
LABEL_STUDIO_TOKEN = "0123456789abcdef0123456789abcdef01234567"  # a test server's throwaway legacy token


@contextlib.contextmanager
def label_studio_server(data_dir: Path, document_root: Path, log_path: Path, *, timeout_s: float = 600):
    """A real Label Studio on a free loopback port, serving local files under document_root, with one user
    (LABEL_STUDIO_USER, legacy token LABEL_STUDIO_TOKEN); yields its base URL and stops it when the block ends.
    Its migrated database is kept beside the virtualenv after the first start, so later starts skip migrating."""
    venv = tool_venv("label-studio")
    template = venv / "initialised-data"
    if template.exists() and not data_dir.exists():
        shutil.copytree(template, data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
           "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(document_root), "LATEST_VERSION_CHECK": "false",
           "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": ""}
    command = [str(venv / "bin" / "label-studio"), "start", "--no-browser", "--internal-host", "127.0.0.1",
               "--port", str(port), "--data-dir", str(data_dir), "--username", LABEL_STUDIO_USER,
               "--password", "test-password-1", "--user-token", LABEL_STUDIO_TOKEN, "--enable-legacy-api-token"]
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    urllib.request.urlopen(f"{url}/health", timeout=2)
                    break
                except OSError:
                    assert process.poll() is None, Path(log_path).read_text()[-3000:]
                    assert time.monotonic() < deadline, f"Label Studio did not answer within {timeout_s:.0f} s"
                    time.sleep(1)
            if not template.exists():  # a migrated database with the user in it: the next start copies it
                shutil.copytree(data_dir, template.with_name(".initialised-data.partial"), dirs_exist_ok=True)
                os.replace(template.with_name(".initialised-data.partial"), template)
            yield url
        finally:
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and anything it started
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

