"""Reading what someone else dropped: only regular files inside their zone, never bigger than a limit, JSON never
nested deeper than a limit. Each check answers with the reason a file is refused ("" when it may be read), so the
caller can refuse that one file and go on with the others.

The limits come from the environment (see Settings), so the CLI, the sensors and run workers share them:
VISION_MAX_FILE_BYTES (videos, default 4 GiB), VISION_MAX_LABEL_BYTES (sidecars and label files, default 256 MiB),
VISION_MAX_JSON_DEPTH (default 64). Label formats that expand keyframes into one row per frame (CVAT for video, Label
Studio) are bounded by the video's decoded frame count; read without their video (`vision-assets qc FILE`) by
VISION_MAX_LABEL_FRAMES (default 1,000,000 frames, over 9 hours at 30 fps), and every file by VISION_MAX_LABEL_ROWS
(default 10,000,000 rows).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from vision_assets.core.errors import VisionError

GIB, MIB = 1024**3, 1024**2


class InputRefused(VisionError, ValueError):
    """A file that is not read: outside its zone, not a regular file, too big, or nested too deep."""


@dataclass(frozen=True)
class InputLimits:
    max_file_bytes: int = 4 * GIB
    max_label_bytes: int = 256 * MIB
    max_json_depth: int = 64
    max_label_frames: int = 1_000_000
    max_label_rows: int = 10_000_000

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> InputLimits:
        env = os.environ if env is None else env
        defaults = cls()
        try:
            return cls(
                max_file_bytes=int(env.get("VISION_MAX_FILE_BYTES") or defaults.max_file_bytes),
                max_label_bytes=int(env.get("VISION_MAX_LABEL_BYTES") or defaults.max_label_bytes),
                max_json_depth=int(env.get("VISION_MAX_JSON_DEPTH") or defaults.max_json_depth),
                max_label_frames=int(env.get("VISION_MAX_LABEL_FRAMES") or defaults.max_label_frames),
                max_label_rows=int(env.get("VISION_MAX_LABEL_ROWS") or defaults.max_label_rows),
            )
        except ValueError as error:
            raise VisionError(f"input limits: VISION_MAX_* must be whole numbers ({error})") from error


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def kind_of(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def inside(path: Path, zone: Path) -> bool:
    """The real path (links and `..` resolved) lies in the zone's real path."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(zone))


def file_problem(path: Path, zone: Path, max_bytes: int, *, links: bool = False, zone_name: str = "its zone") -> str:
    """Why `path` may not be read ("" when it may): a link (unless `links`, then one that stays in the zone), a
    path that leaves the zone, anything but a regular file (a FIFO would block the reader forever), over max_bytes.
    Nothing is opened, so a refused file is never read or copied."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            if not links:
                return "is a symbolic link (sidecar and label files are read only where they lie)"
            if not inside(path, zone):
                return f"is a symbolic link that resolves outside {zone_name}"
            info = os.stat(path)
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if not inside(path, zone):
        return f"resolves outside {zone_name}"
    if not stat.S_ISREG(info.st_mode):
        return f"is {kind_of(info.st_mode)}, not a regular file"
    if info.st_size > max_bytes:
        return f"is {info.st_size:,} bytes, over the limit of {max_bytes:,} bytes"
    return ""


def read_bytes_bounded(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refused when it is not a regular file or holds more than max_bytes. Opened without
    blocking and checked on the open handle, so a FIFO swapped in after a check still cannot hang the reader."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise InputRefused(f"{path}: cannot be read ({error.strerror or error})") from error
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise InputRefused(f"{path}: is {kind_of(mode)}, not a regular file")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputRefused(f"{path}: over the limit of {max_bytes:,} bytes")
    return data


def load_json_bounded(path: Path, max_bytes: int, max_depth: int):
    """JSON of a regular file of at most max_bytes, nested at most max_depth levels; InputRefused otherwise, and
    for text that is not JSON (ValueError subclasses carry the parser's position)."""
    data = read_bytes_bounded(path, max_bytes)
    try:
        value = json.loads(data)
    except RecursionError:
        raise InputRefused(f"{path}: JSON nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise InputRefused(f"{path}: not valid JSON ({error})") from error
    if json_depth(value) > max_depth:
        raise InputRefused(f"{path}: JSON nested deeper than {max_depth} levels")
    return value


def json_depth(value) -> int:
    """Nesting depth of parsed JSON, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
