"""Registry consistency: every alias points at a version whose checkpoint is in the lake with the very bytes
its sha256 tag names, and the champion alias is where the audit trail last put it (a move made in the MLflow UI
or API, around the gate and `vision-assets promote`, is flagged and written to the audit table once)."""

from __future__ import annotations

import re
from pathlib import Path

from vision_assets.core.lake import Lake, keys, sha256_file
from vision_assets.core.registry.mlflow_registry import ModelRegistry


def alias_problems(registry: ModelRegistry, lake: Lake, name: str, work_dir: Path) -> tuple[dict[str, str], list[str]]:
    """({alias: version}, one line per problem)."""
    aliases = registry.aliases(name)
    problems = []
    for alias, version in sorted(aliases.items()):
        tags = registry.get_version(name, version).tags
        sha = tags.get("checkpoint_sha256", "")
        key = keys.blob_key(keys.CHECKPOINT_BLOBS, sha, ".pt") if sha else ""
        if not sha:
            problems.append(f"@{alias} -> v{version}: no checkpoint_sha256 tag")
        elif not lake.exists(key):
            problems.append(f"@{alias} -> v{version}: checkpoint {key} is not in the lake")
        elif sha256_file(lake.local_copy(key, work_dir / "checkpoints")) != sha:
            problems.append(f"@{alias} -> v{version}: the lake's {key} does not hash to its tag")
    moved = champion_moved_outside(lake, name, aliases.get("champion"))
    if moved:
        problems.append(moved)
    return aliases, problems


# Audit actions that legitimately give the champion alias to a version (the object names it last: "name vN").
SANCTIONED = ("promote", "gate_override", "rollback", "canary_complete")
MOVED_OUTSIDE = "alias_moved_outside"


def champion_moved_outside(lake: Lake, name: str, champion: str | None) -> str | None:
    """A problem line when the champion alias points elsewhere than the audit trail's last promote, gate override
    or rollback of this model (recorded as an alias_moved_outside event, once per version); None when they agree
    or the trail never placed the alias (an older data folder)."""
    from vision_assets.core.registry.audit import read_audit, record_event

    if champion is None:
        return None
    events = read_audit(lake)
    mine = events[events["object"].astype(str).str.startswith(f"{name} v")]
    placed = mine[mine["action"].isin(SANCTIONED)]
    if placed.empty:
        return None
    expected = re.findall(r"v(\d+)", str(placed["object"].iloc[-1]))[-1]
    if expected == str(champion):
        return None
    line = (f"@champion -> v{champion}: moved outside vision-assets (the audit trail last gave it to v{expected}); "
            f"`vision-assets promote {champion} --reason ...` records it, or `vision-assets promote {expected}` "
            "puts it back")
    already = mine[(mine["action"] == MOVED_OUTSIDE) & (mine["object"] == f"{name} v{champion}")]
    later = already[already["time"] > placed["time"].iloc[-1]]
    if later.empty:
        record_event(lake, MOVED_OUTSIDE, f"{name} v{champion}", f"the audit trail last gave champion to v{expected}",
                     actor="registry_consistent")
    return line
