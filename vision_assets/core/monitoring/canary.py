"""Canary releases: a version serves (in shadow, watched by footage_monitoring) on a few scenes before it becomes
champion everywhere; completed by a person, rolled back automatically when its checks fail.

State lives in the registry: the `canary` alias names the version, its `canary_scenes` tag the scenes; every
change is an audit event.
"""

from __future__ import annotations

from vision_assets.core.lake import Lake
from vision_assets.core.registry import record_event
from vision_assets.core.registry.mlflow_registry import CHAMPION, RegistryError

CANARY = "canary"
CANARY_SCENES_TAG = "canary_scenes"
ROLLED_BACK_TAG = "canary_rolled_back"
MAX_DISAGREEMENT = 0.5  # share of the two models' boxes they disagree on (unmatched or another class)


def canary_scenes(tags: dict[str, str]) -> list[str]:
    return [s for s in tags.get(CANARY_SCENES_TAG, "").split(",") if s]


def start_canary(registry, lake: Lake, name: str, version: str, scenes: list[str], reason: str = "") -> None:
    found = registry.get_version(name, version)  # a clear error for an unknown version
    scenes = sorted({s.strip() for s in scenes if s.strip()})
    if not scenes:
        raise RegistryError(f"{name} v{version}: a canary needs at least one scene")
    champion = registry.champion(name)
    if champion is not None and str(champion.version) == str(found.version):
        raise RegistryError(f"{name} v{version} is already the {CHAMPION}: nothing to canary")
    registry.client.set_model_version_tag(name, str(version), CANARY_SCENES_TAG, ",".join(scenes))
    registry.set_alias(name, CANARY, str(version))
    record_event(lake, "canary", f"{name} v{version}", reason, details=f"scenes: {', '.join(scenes)}")


def current_canary(registry, name: str):
    return registry.by_alias(name, CANARY)


def complete_canary(registry, lake: Lake, name: str, version: str, reason: str = "") -> None:
    canary = current_canary(registry, name)
    if canary is None or str(canary.version) != str(version):
        held = f"v{canary.version}" if canary is not None else "no version"
        raise RegistryError(f"{name} v{version} is not the canary ({held} is): nothing to complete")
    registry.promote(name, str(version))
    registry.client.delete_registered_model_alias(name, CANARY)
    record_event(lake, "canary_complete", f"{name} v{version}", reason,
                 details=f"champion after a canary on {', '.join(canary_scenes(canary.tags))}")


def rollback_canary(registry, lake: Lake, name: str, version: str, why: str, run_tags: dict | None = None) -> None:
    """Take the canary alias away (the champion keeps serving) and say why on the version and in the audit."""
    canary = current_canary(registry, name)
    if canary is None or str(canary.version) != str(version):
        return  # already completed or rolled back by someone else: nothing of ours to undo
    registry.client.delete_registered_model_alias(name, CANARY)
    registry.client.set_model_version_tag(name, str(version), ROLLED_BACK_TAG, why[:4000])
    record_event(lake, "canary_rollback", f"{name} v{version}", why, run_tags=run_tags)


def canary_failure(summary: dict, max_disagreement: float = MAX_DISAGREEMENT) -> str:
    """Why the canary failed on this partition ("" when it passed): it disagrees with the champion on too many
    boxes, or its detection rate leaves the champion's baseline band."""
    problems = []
    if summary["shadow_disagreement_rate"] > max_disagreement:
        problems.append(f"disagrees with the champion on {summary['shadow_disagreement_rate']:.0%} of boxes "
                        f"(at most {max_disagreement:.0%})")
    rate = summary.get("challenger_detections_per_frame", float("nan"))
    if rate == rate and not summary["detection_band_low"] <= rate <= summary["detection_band_high"]:
        problems.append(f"{rate:.3g} detections per frame, outside the band {summary['detection_band_low']:.3g}-"
                        f"{summary['detection_band_high']:.3g}")
    where = f"{summary['scene']}/{summary['day']}"
    return f"{where}: " + "; ".join(problems) if problems else ""
