"""The sidecar: a JSON object beside a video (<video name>.json, or <stem>.json when no other video of the folder
shares the stem) that says what the path cannot.

Schema (every key optional; README "Sidecar files"):
  scene          string, a partition-usable scene name
  day            string, YYYY-MM-DD; must agree with capture_start's date when both are given
  capture_start  string, ISO 8601 date-time ("2024-01-02T08:00:00Z", "2024-01-02T08:00:00+01:00")
  device, lighting, weather   strings
  tags           list of strings
Any other key is kept as it is in raw_videos.sidecar. A value of the wrong type (null included) refuses the video
with the reason, so nothing is stored as Python text ("None", "{'a': 1}") and no partition is named "True".
A sidecar describes a video in a few words: a text (key or value, at any depth) over MAX_TEXT_CHARS, or a sidecar
over MAX_SIDECAR_BYTES as JSON, refuses the video with the reason (a 50 MB note would otherwise travel into every
table, event and report that carries the video's fields).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from vision_assets.core.input_files import InputLimits, InputRefused, load_json_bounded

STRING_KEYS = ("scene", "day", "capture_start", "device", "lighting", "weather")
MAX_TEXT_CHARS = 1024
MAX_SIDECAR_BYTES = 64 * 1024


def load_sidecar(path: Path, limits: InputLimits) -> tuple[dict, str]:
    """(the validated sidecar, "") or ({}, why it is refused)."""
    try:
        payload = load_json_bounded(path, limits.max_label_bytes, limits.max_json_depth)
    except InputRefused as error:
        return {}, f"sidecar {path.name} {str(error).removeprefix(f'{path}: ')}"
    problem = sidecar_problem(payload)
    return (payload, "") if not problem else ({}, f"sidecar {path.name}: {problem}")


def sidecar_problem(payload) -> str:
    if not isinstance(payload, dict):
        return f"must be a JSON object, got {_json_type(payload)}"
    size = len(json.dumps(payload).encode())
    if size > MAX_SIDECAR_BYTES:
        return f"is {size:,} bytes as JSON, over the sidecar limit of {MAX_SIDECAR_BYTES:,} bytes"
    long = _long_text(payload)
    if long:
        return long
    for key in STRING_KEYS:
        if key in payload and not isinstance(payload[key], str):
            return f'"{key}" must be a string, got {_json_type(payload[key])}'
    tags = payload.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        return '"tags" must be a list of strings'
    capture = payload.get("capture_start")
    if capture:
        captured = capture_date(capture)
        if captured is None:
            return f'"capture_start" {capture!r} is not an ISO 8601 date-time'
        if payload.get("day") and payload["day"] != captured:
            return f'"day" {payload["day"]!r} contradicts "capture_start" {capture!r} (captured on {captured})'
    return ""


def _long_text(value, where: str = "") -> str:
    """Why a key or text in the sidecar is too long to keep ("" when none is)."""
    if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        return f'"{where}" is {len(value):,} characters, over the {MAX_TEXT_CHARS:,}-character limit for a sidecar text'
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and len(key) > MAX_TEXT_CHARS:
            return f"a key of {len(key):,} characters, over the {MAX_TEXT_CHARS:,}-character limit for a sidecar text"
        problem = _long_text(item, f"{where}.{key}" if where else str(key))
        if problem:
            return problem
    return ""


def capture_date(capture_start: str) -> str | None:
    """The capture's date as the camera's clock saw it (its own offset), None when it is not a date-time."""
    try:
        return dt.datetime.fromisoformat(capture_start.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return None


def sidecar_partition(sidecar: dict) -> tuple[str, str]:
    """(scene, day) as a validated sidecar declares them; day may come from capture_start."""
    day = sidecar.get("day") or (capture_date(sidecar["capture_start"]) if sidecar.get("capture_start") else "")
    return sidecar.get("scene") or "", day or ""


def _json_type(value) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)  # the value itself stays out of logs
