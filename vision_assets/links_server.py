"""The links server `vision-assets ui` runs beside the Dagster and MLflow UIs: stable addresses that asset metadata
can hold, resolved when someone opens them.

- `/lake/evaluations/...`, `/lake/reports/...`: the evaluation report pages and their replays, read-only, from the
  lake (HTTP ranges, so videos seek); `/lake/monitoring/<model>/v<N>/drift.html`: a version's monitoring page.
- `/grid`: the scene x day grid (scene rows, day columns, one cell per scene-day partition with its frames, labels
  kept, QC pass rate, drift verdict and failing checks; each cell links to its Dagster UI partition page), read from
  the Dagster instance and the lake when opened (vision_assets/defs/scene_day_grid.py).
- `/mlflow/runs/<run_id>`: a redirect to the run in the MLflow UI, its experiment looked up now; `/mlflow/models/
  <name>[/versions/<v>]`: the registered model; both in MLflow's classic (machine learning) mode. The MLflow UI's address is the one this server was started with
  (`--mlflow-port`, `VISION_MLFLOW_UI_URL`), so a link written at materialization never bakes in a port.

Metadata links point at VISION_LINKS_URL (default http://127.0.0.1:3001, where `vision-assets ui` serves this)."""

from __future__ import annotations

import mimetypes
import os
import posixpath
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LINKS_URL_ENV = "VISION_LINKS_URL"
DEFAULT_LINKS_PORT = 3001
SERVED_FOLDERS = ("evaluations", "reports", "monitoring")  # the lake folders a browser may read; the rest stays private
SERVED_SUFFIXES = {"monitoring": (".html",)}  # of monitoring, the pages only (its baselines are model features)
# MLflow 3's UI opens in its GenAI mode; its router honours this parameter (the sidebar's workflow switch sets it),
# so every link lands in the classic experiment-tracking view, where runs, metrics and models are.
CLASSIC_MODE = "?workflowType=machine_learning"


def links_url() -> str:
    return (os.environ.get(LINKS_URL_ENV) or f"http://127.0.0.1:{DEFAULT_LINKS_PORT}").rstrip("/")


def lake_page_url(key: str) -> str:
    return f"{links_url()}/lake/{urllib.parse.quote(key)}"


def mlflow_run_redirect(run_id: str) -> str:
    return f"{links_url()}/mlflow/runs/{urllib.parse.quote(run_id, safe='')}"


def mlflow_model_redirect(name: str, version: str | int | None = None) -> str:
    url = f"{links_url()}/mlflow/models/{urllib.parse.quote(name, safe='')}"
    return url + (f"/versions/{version}" if version is not None else "")


class LinksServer:
    """A ThreadingHTTPServer on (host, port) serving the lake folder `lake_root` and redirects to `mlflow_url`."""

    def __init__(self, lake_root: Path, mlflow_url: str, tracking_uri: str, host: str = "127.0.0.1", port: int = 0, *,
                 dagster_home: Path | None = None, dagster_url: str = "http://127.0.0.1:3000",
                 lake_uri: str | None = None):
        """dagster_home (the instance's folder) enables `/grid`, whose cells link into the UI at dagster_url and
        whose numbers come from the lake at lake_uri (default: lake_root)."""
        handler = type("Handler", (_Handler,), {"lake_root": Path(lake_root).resolve(),
                                                "mlflow_url": mlflow_url.rstrip("/"), "tracking_uri": tracking_uri,
                                                "dagster_home": dagster_home, "dagster_url": dagster_url.rstrip("/"),
                                                "lake_uri": lake_uri or str(Path(lake_root).resolve())})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LinksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    lake_root: Path
    mlflow_url: str
    tracking_uri: str
    dagster_home: Path | None
    dagster_url: str
    lake_uri: str

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # a page with a video asks for many ranges: not worth a log line each

    def do_GET(self):  # noqa: N802 - the base class's name
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if path.startswith("/lake/"):
            return self._file(path.removeprefix("/lake/"))
        if path.startswith("/mlflow/runs/"):
            return self._run(path.removeprefix("/mlflow/runs/").strip("/"))
        if path.startswith("/mlflow/models/"):
            parts = path.removeprefix("/mlflow/models/").strip("/").split("/")
            target = f"/#/models/{urllib.parse.quote(parts[0], safe='')}"
            if len(parts) == 3 and parts[1] == "versions":
                target += f"/versions/{urllib.parse.quote(parts[2], safe='')}"
            return self._redirect(self.mlflow_url + target + CLASSIC_MODE)
        if path == "/favicon.ico":  # browsers ask on every page: an empty answer, not an error in their console
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
            return None
        if path.rstrip("/") == "/grid":
            return self._grid()
        if path.rstrip("/") == "/mlflow":
            return self._redirect(self.mlflow_url + "/#/experiments" + CLASSIC_MODE)
        self.send_error(HTTPStatus.NOT_FOUND, "not a served address")

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.FOUND)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _grid(self) -> None:
        if self.dagster_home is None:
            return self.send_error(HTTPStatus.NOT_FOUND, "this links server was started without a Dagster instance")
        import dagster as dg

        from vision_assets.core.lake import Lake
        from vision_assets.core.scene_day_grid import grid_html
        from vision_assets.defs.scene_day_grid import code_location_check_keys, grid, partition_page

        with dg.DagsterInstance.from_config(str(self.dagster_home)) as instance:
            cells = grid(instance, Lake(self.lake_uri), code_location_check_keys())
        body = grid_html(cells, lambda c: partition_page(self.dagster_url, c.worst_asset, c.scene, c.day),
                         title="Scene x day", note="Each cell is one scene-day partition as of now: a red cell has "
                         "a failing check, an amber one a warning; a click opens its partition in the Dagster UI "
                         f"({self.dagster_url}). Grey: the scene has no footage that day, so no partition.").encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _run(self, run_id: str) -> None:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        try:
            experiment = MlflowClient(self.tracking_uri).get_run(run_id).info.experiment_id
        except (MlflowException, OSError):
            return self.send_error(HTTPStatus.NOT_FOUND, f"no MLflow run {run_id}")
        self._redirect(f"{self.mlflow_url}/#/experiments/{experiment}/runs/{urllib.parse.quote(run_id, safe='')}"
                       + CLASSIC_MODE)

    def _file(self, key: str) -> None:
        key = posixpath.normpath(key)
        folder = key.split("/")[0]
        if key.startswith("..") or folder not in SERVED_FOLDERS or not key.endswith(SERVED_SUFFIXES.get(folder, "")):
            return self.send_error(HTTPStatus.NOT_FOUND, "not a served lake folder")
        target = (self.lake_root / key).resolve()
        if not target.is_relative_to(self.lake_root) or not target.is_file():
            return self.send_error(HTTPStatus.NOT_FOUND, f"no {key} in the lake")
        size = target.stat().st_size
        start, end = 0, size - 1
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes="):
            first, _, last = ranged.removeprefix("bytes=").split(",")[0].partition("-")
            start = int(first) if first else max(0, size - int(last or 0))
            end = min(size - 1, int(last)) if first and last else end
            if start >= size:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
        self.send_response(HTTPStatus.PARTIAL_CONTENT if ranged else HTTPStatus.OK)
        self.send_header("Content-Type", mimetypes.guess_type(target.name)[0] or "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        with open(target, "rb") as handle:
            handle.seek(start)
            remaining = end - start + 1
            try:
                while remaining > 0:
                    chunk = handle.read(min(1 << 16, remaining))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    remaining -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser stopped reading (a seek): nothing to finish
