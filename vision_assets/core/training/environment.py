"""The training environment: device, code identity, and Ultralytics kept inside our work folder."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from pathlib import Path

from vision_assets import __version__
from vision_assets.core.errors import VisionError

# The checkout this code runs from (absent in an installed image: then the commit is "unknown").
SOURCE_ROOT = Path(__file__).resolve().parents[3]

# Ultralytics integrations that would log elsewhere or phone home; MLflow logging is ours.
# Set by the image build (e.g. `--build-arg` into the environment): the container a checkpoint was trained in.
IMAGE_DIGEST_ENV = "VISION_IMAGE_DIGEST"

_DISABLED_INTEGRATIONS = ("mlflow", "clearml", "comet", "dvc", "neptune", "raytune", "tensorboard", "wandb", "hub", "sync")


def configure_third_party(work_dir: Path) -> None:
    # Ultralytics reads these at import time: no downloads, and its settings file outside the repo.
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(work_dir / "ultralytics_config"))
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


class InvalidDevice(VisionError, ValueError):
    """A device setting that names no device this code can use."""


def resolve_device(requested: str = "auto") -> str:
    if requested and requested != "auto":
        requested_gpus(requested)  # a malformed string fails here, in one line, not inside Ultralytics
        return requested
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def requested_gpus(device: str) -> list[int]:
    """The GPU indices a device string asks for ("0", "0,1", "cuda:1"); none for "cpu"/"mps". Several indices
    make Ultralytics train with DDP, one process per GPU; the string itself goes to Ultralytics unchanged."""
    text = str(device).strip().lower()
    if text in ("", "cpu", "mps", "auto"):
        return []
    indices = [part.strip().removeprefix("cuda:") for part in text.split(",") if part.strip()]
    if not all(index.isdigit() for index in indices):
        raise InvalidDevice(object=f"device {device!r}", problem="expected 'cpu', 'mps', a GPU index or indices like '0,1'")
    return [int(index) for index in indices]


def git_commit() -> str:
    """The commit, with "-dirty" when tracked files differ from it ("unknown" outside a checkout)."""
    return git_state()["git_commit"]


def code_version() -> str:
    return f"vision_assets=={__version__}"


def ultralytics_yolo(work_dir: Path):
    configure_third_party(work_dir)
    from ultralytics import YOLO
    from ultralytics.utils import SETTINGS

    wanted = {name: False for name in _DISABLED_INTEGRATIONS if name in SETTINGS}
    wanted.update(runs_dir=str(work_dir / "runs"), weights_dir=str(work_dir / "weights"),
                  datasets_dir=str(work_dir / "datasets"))
    if any(SETTINGS.get(k) != v for k, v in wanted.items()):
        SETTINGS.update(wanted)
    return YOLO


def seed_everything(seed: int) -> None:
    import numpy as np  # here, not at module level: `settings` imports this module on every command
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def git_state() -> dict:
    """The commit, whether tracked files differ from it, and a hash of that difference (so a dirty rerun can be
    told apart from another dirty tree at the same commit)."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(SOURCE_ROOT), *args], capture_output=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        diff = git("diff", "HEAD", "--binary") if head.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return dict(_UNKNOWN_GIT)
    if head.returncode != 0 or diff is None or diff.returncode != 0:
        return dict(_UNKNOWN_GIT)
    commit, dirty = head.stdout.decode().strip(), bool(diff.stdout.strip())
    return {"git_commit": commit + ("-dirty" if dirty else ""), "git_head": commit, "git_dirty": dirty,
            "git_diff_sha256": hashlib.sha256(diff.stdout).hexdigest() if dirty else None}


_UNKNOWN_GIT = {"git_commit": "unknown", "git_head": None, "git_dirty": None, "git_diff_sha256": None}


def distribution_lock() -> str:
    """Every installed distribution as `name==version`, one a line, sorted: the environment's lock listing."""
    from importlib import metadata

    seen = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").strip()
        if name:
            seen.setdefault(name.lower().replace("_", "-"), f"{name}=={dist.version}")
    return "".join(f"{line}\n" for _, line in sorted(seen.items()))


def parse_lock(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        name, sep, version = line.partition("==")
        if sep:
            out[name.lower().replace("_", "-")] = version
    return out


def environment_snapshot(device: str) -> dict:
    """What a rerun must match to give the same bytes: interpreter, libraries, accelerator, machine, image."""
    import platform

    import torch
    import ultralytics

    cuda = torch.cuda.is_available()
    gpus = requested_gpus(device)
    on_gpu = cuda and bool(gpus)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "ultralytics": ultralytics.__version__,
        "device": device,
        "devices": gpus,  # the GPUs training used (several: DDP)
        "device_name": torch.cuda.get_device_name(gpus[0]) if on_gpu else platform.processor() or platform.machine(),
        "device_count": len(gpus) if on_gpu else 1,
        "cpu_count": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "image_digest": os.environ.get(IMAGE_DIGEST_ENV) or None,
    }


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


# What a rerun is compared on; cpu count and memory are recorded but do not change the bytes.
COMPARED = ("python", "torch", "cuda", "cudnn", "ultralytics", "device", "device_name", "device_count", "image_digest")


def environment_differences(original: dict, original_lock: str | None, current: dict, current_lock: str) -> list[str]:
    """Human-readable differences between a recorded environment and this one."""
    out = [f"{key}: {original.get(key)!r} -> {current.get(key)!r}" for key in COMPARED
           if key in original and original.get(key) != current.get(key)]
    if original_lock is None:
        out.append("the original's distribution lock is not available")
        return out
    before, after = parse_lock(original_lock), parse_lock(current_lock)
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            out.append(f"package {name}: {before.get(name, 'absent')} -> {after.get(name, 'absent')}")
    return out
