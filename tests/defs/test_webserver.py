"""The real webserver loads the code location and serves the asset graph."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import REPO_ROOT

pytestmark = pytest.mark.slow  # starts the real webserver


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def test_webserver_loads_the_code_location(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "VISION_DATA_DIR": str(tmp_path / "data")}
    port = free_port()
    webserver = Path(sys.executable).with_name("dagster-webserver")
    process = subprocess.Popen([str(webserver), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()[-3000:]
                assert time.monotonic() < deadline, "webserver did not answer within 120 s"
                time.sleep(1)
        data = graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                             "locationOrLoadError { __typename ... on PythonError { message } } } } } }")
        entries = data["workspaceOrError"]["locationEntries"]
        assert [(e["name"], e["loadStatus"]) for e in entries] == [("vision_assets", "LOADED")], entries
        assert entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        nodes = graphql(port, "{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks "
                              "{ checks { name blocking } } } } }")["assetNodes"]
        assert len({"/".join(n["assetKey"]["path"]) for n in nodes}) == 9
        checks = {(n["assetKey"]["path"][-1], c["name"], c["blocking"])
                  for n in nodes for c in n["assetChecksOrError"].get("checks", [])}
        assert {("qc_annotations", "qc_pass_rate", True), ("qc_annotations", "kept_rows_meet_expectations", True),
                ("qc_annotations", "annotator_agreement", False), ("raw_videos", "no_duplicate_footage", False),
                ("annotations", "label_files_matched", False)} <= checks
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
