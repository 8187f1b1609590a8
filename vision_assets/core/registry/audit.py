"""The audit trail: an append-only table in the lake of what people and schedules did to models and data.

One row per event (promote, rollback, gate override, forget, retention deletion, labelling-queue export,
model pull), each in its own partition `tables/audit/event=<time>-<id>/part-0.parquet`: an event is a new
object, never a rewrite of an old one, so concurrent writers cannot lose each other's rows and nothing
rewrites history. pandas, DuckDB or Spark read the folder as one table."""

from __future__ import annotations

import getpass
import os
import uuid
from datetime import UTC, datetime

import pandas as pd

from vision_assets.core.lake import Lake
from vision_assets.core.registry.redact import redact

AUDIT = "audit"
COLUMNS = ["time", "action", "actor", "object", "reason", "details"]
ACTIONS = frozenset({"promote", "rollback", "gate_override", "forget", "retention_delete", "labeling_queue_export",
                     "pull", "challenger", "alias_moved_outside", "alias_withdrawn", "taint_override", "canary",
                     "canary_complete", "canary_rollback"})


def current_actor(run_tags: dict[str, str] | None = None) -> str:
    """Who acts: VISION_USER, else the Dagster run's user or the sensor/schedule that asked for the run, else the
    OS user."""
    if os.environ.get("VISION_USER"):
        return os.environ["VISION_USER"]
    tags = run_tags or {}
    for tag in ("dagster/user", "user"):
        if tags.get(tag):
            return tags[tag]
    for tag, kind in (("dagster/schedule_name", "schedule"), ("dagster/sensor_name", "sensor")):
        if tags.get(tag):
            return f"{kind}:{tags[tag]}"
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid:{os.getuid()}"


def record_event(lake: Lake, action: str, obj: str, reason: str = "", *, actor: str | None = None,
                 details: str = "", run_tags: dict[str, str] | None = None, now: datetime | None = None) -> dict:
    """Append one event; returns its row."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; known: {', '.join(sorted(ACTIONS))}")
    when = (now or datetime.now(UTC)).astimezone(UTC)
    row = {"time": when.isoformat(timespec="microseconds"), "action": action,
           "actor": actor or current_actor(run_tags), "object": redact(obj), "reason": redact(reason),
           "details": redact(details)}
    # The time first, so the partition folders list in order.
    event = f"{when.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
    lake.write_table(AUDIT, pd.DataFrame([row], columns=COLUMNS), {"event": event})
    return row


def read_audit(lake: Lake, since: datetime | None = None) -> pd.DataFrame:
    """Every event, oldest first; with `since`, only those at or after it."""
    table = lake.read_tables(AUDIT)
    if table.empty:
        return pd.DataFrame(columns=COLUMNS)
    table = table[COLUMNS].sort_values("time").reset_index(drop=True)
    if since is not None:
        stamp = since if since.tzinfo else since.replace(tzinfo=UTC)
        table = table[pd.to_datetime(table["time"], utc=True) >= pd.Timestamp(stamp)].reset_index(drop=True)
    return table
