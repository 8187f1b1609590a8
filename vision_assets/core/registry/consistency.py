"""Registry consistency: every alias points at a version whose checkpoint is in the lake with the very bytes
its sha256 tag names."""

from __future__ import annotations

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
    return aliases, problems
