"""Which partitions a sampling-policy change affects: those whose scene's effective policy differs from the one
their last sampling recorded. Code versions cannot say this, since the policy is per scene, not per asset."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

POLICY_METADATA_KEY = "sampling_policy"  # sampled_frames materialization metadata: the fingerprint below


def policy_fingerprint(effective_policy: Mapping[str, object]) -> str:
    """A short, stable hash of one scene's effective sampling policy (key order and int/float spelling of the
    same number do not change it)."""
    canonical = json.dumps(_normalised(effective_policy), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _normalised(value):
    if isinstance(value, Mapping):
        return {str(k): _normalised(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalised(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class SampledPartition:
    partition: str  # the partition key as Dagster spells it
    scene: str
    recorded_policy: str | None  # None: sampled before fingerprints were recorded


def changed_policy_partitions(sampled: Iterable[SampledPartition], current: Mapping[str, str]) -> list[str]:
    """The partitions to sample again: their scene's current fingerprint differs from the recorded one. A partition
    without a recorded fingerprint counts as changed (nothing shows it was sampled with today's policy)."""
    return sorted(p.partition for p in sampled if p.recorded_policy != current[p.scene])
