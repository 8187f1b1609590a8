"""Which version served which scene when, derived from the audit trail's alias moves.

Every change of the `champion` alias that vision_assets makes is an audit event (promote at registration or by
hand, gate override, rollback, canary completion, an alias withdrawn from a tainted version, a move noticed as made
outside), and so is every canary (its scenes in `details`) and its end (completed or rolled back). Replaying them in
order gives, per scene, intervals [start, end) and the version serving there: the canary on its scenes while the
canary lasts, the champion everywhere else. `end` is None for what serves now.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import pandas as pd

from vision_assets.core.registry.mlflow_registry import CHAMPION

CANARY = "canary"  # core/monitoring/canary.py's alias (monitoring imports the registry, not the reverse)
EVERY_OTHER_SCENE = "*"  # a scene the lake does not (yet) know: the champion serves it
# Audit actions that give the champion alias to the version their object names last ("name vN", "name vA -> vB").
CHAMPION_MOVES = ("promote", "gate_override", "rollback", "canary_complete", "alias_moved_outside")


@dataclass(frozen=True)
class ServedInterval:
    scene: str
    version: str
    role: str  # champion or canary
    start: str  # the audit event's ISO time (UTC)
    end: str | None  # the next change's time; None: serving now

    def as_dict(self) -> dict:
        return asdict(self)


def served_intervals(audit: pd.DataFrame, name: str, scenes: Iterable[str] = ()) -> list[ServedInterval]:
    """Per scene (the given ones, every canary's, and EVERY_OTHER_SCENE), the intervals in which a version of model
    `name` served it, by scene then time. Events of other models, and events that move nothing, change nothing."""
    events = audit.sort_values("time", kind="stable") if len(audit) else audit
    canary_scenes = [_scenes(row.details) for row in events.itertuples() if row.action == CANARY
                     and _version(row.object, name) is not None]
    every = sorted({*scenes, *(s for found in canary_scenes for s in found)} - {EVERY_OTHER_SCENE}) + [EVERY_OTHER_SCENE]
    champion: str | None = None
    canary: tuple[str, frozenset[str]] | None = None
    open_: dict[str, tuple[str, str, str]] = {}  # scene -> (version, role, start)
    closed: list[ServedInterval] = []
    for row in events.itertuples():
        changed = _apply(row, name, champion, canary)
        if changed is None:
            continue
        champion, canary = changed
        for scene in every:
            serving = ((canary[0], CANARY) if canary and scene in canary[1]
                       else (champion, CHAMPION) if champion else None)
            current = open_.get(scene)
            if current is not None and serving == current[:2]:
                continue
            if current is not None:
                closed.append(ServedInterval(scene, current[0], current[1], current[2], row.time))
                del open_[scene]
            if serving is not None:
                open_[scene] = (*serving, row.time)
    closed += [ServedInterval(scene, v, role, start, None) for scene, (v, role, start) in open_.items()]
    order = {scene: i for i, scene in enumerate(every)}
    return sorted(closed, key=lambda s: (order[s.scene], s.start))


def _apply(row, name: str, champion: str | None, canary):
    """(champion, canary) after one event, or None when the event is not about this model's serving aliases."""
    action, obj, details = row.action, str(row.object), str(row.details or "")
    if action == "alias_withdrawn":  # object "name@alias vN", details "alias is now vM ..." or "... no version ..."
        match = re.fullmatch(rf"{re.escape(name)}@(\w+) v(\d+)", obj)
        if match is None:
            return None
        alias, replacement = match.group(1), re.search(r"is now v(\d+)", details)
        if alias == CHAMPION:
            return (replacement.group(1) if replacement else None), canary
        if alias == CANARY and canary and canary[0] == match.group(2):
            return champion, None
        return None
    version = _version(obj, name)
    if version is None:
        return None
    if action in CHAMPION_MOVES:
        return version, (None if action == "canary_complete" else canary)
    if action == CANARY:
        return champion, (version, frozenset(_scenes(details)))
    if action == "canary_rollback" and canary and canary[0] == version:
        return champion, None
    return None


def _version(obj: str, name: str) -> str | None:
    """The version an object names last: "name vN" -> N, "name vA -> vB" -> B; None for other objects."""
    if not obj.startswith(f"{name} v"):
        return None
    found = re.findall(r"v(\d+)", obj[len(name):])
    return found[-1] if found else None


def _scenes(details) -> list[str]:
    text = str(details or "")
    return [s.strip() for s in text.removeprefix("scenes:").split(",") if s.strip()] if text.startswith("scenes:") else []


def served_table(lake, name: str) -> list[ServedInterval]:
    """served_intervals from a lake's audit trail, over every scene the lake holds footage of."""
    from vision_assets.core.lake import keys
    from vision_assets.core.registry.audit import read_audit

    scenes = {p["scene"] for p in lake.table_partitions(keys.RAW_VIDEOS) if "scene" in p}
    return served_intervals(read_audit(lake), name, scenes)


def served_text(intervals: list[dict], version: str | None = None) -> list[str]:
    """Lines for the CLI from ServedInterval.as_dict() rows: scene, version and role, [start, end)."""
    shown = [s for s in intervals if version is None or s["version"] == str(version)]
    if not shown:
        return ["  served: nowhere (no promotion or canary of it in the audit trail)"]
    width = max(len(s["scene"]) for s in shown)
    lines = ["  served ([from, to) in UTC, from the audit trail; * = every other scene):"]
    for s in shown:
        lines.append(f"    {s['scene']:<{width}}  v{s['version']:<4} {s['role']:<9} {s['start']} -> {s['end'] or 'now'}")
    return lines
