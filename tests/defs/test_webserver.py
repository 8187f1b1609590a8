"""The real webserver loads the code location and serves the asset graph."""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest
from helpers import REPO_ROOT, dagster_webserver

pytestmark = pytest.mark.slow  # starts the real webserver


def graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def test_webserver_loads_the_code_location(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    with dagster_webserver(home, tmp_path / "data", tmp_path / "webserver.log", timeout_s=120) as url:
        data = graphql(url, "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                             "locationOrLoadError { __typename ... on PythonError { message } } } } } }")
        entries = data["workspaceOrError"]["locationEntries"]
        assert [(e["name"], e["loadStatus"]) for e in entries] == [("vision_assets", "LOADED")], entries
        assert entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        nodes = graphql(url, "{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks "
                              "{ checks { name blocking } } } } }")["assetNodes"]
        assert len({"/".join(n["assetKey"]["path"]) for n in nodes}) == 10
        checks = {(n["assetKey"]["path"][-1], c["name"], c["blocking"])
                  for n in nodes for c in n["assetChecksOrError"].get("checks", [])}
        assert {("qc_annotations", "qc_pass_rate", True), ("qc_annotations", "kept_rows_meet_expectations", True),
                ("qc_annotations", "annotator_agreement", False), ("raw_videos", "no_duplicate_footage", False),
                ("annotations", "label_files_matched", False)} <= checks
