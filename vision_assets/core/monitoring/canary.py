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


def canary_failure(summary: dict, max_disagreement: float = MAX_DISAGREEMENT, *, online_floors: dict | None = None
                   ) -> str:
    """Why the canary failed on this partition ("" when it passed): it disagrees with the champion on too many
    boxes, its detection rate leaves the champion's baseline band, or (online_floors given: the project file's
    min_online_precision, min_online_recall, min_online_boxes) its online rates on the partition's returned labels
    (challenger_online_*) fall below a floor."""
    problems = []
    if summary["shadow_disagreement_rate"] > max_disagreement:
        problems.append(f"disagrees with the champion on {summary['shadow_disagreement_rate']:.0%} of boxes "
                        f"(at most {max_disagreement:.0%})")
    rate = summary.get("challenger_detections_per_frame", float("nan"))
    if rate == rate and not summary["detection_band_low"] <= rate <= summary["detection_band_high"]:
        problems.append(f"{rate:.3g} detections per frame, outside the band {summary['detection_band_low']:.3g}-"
                        f"{summary['detection_band_high']:.3g}")
    if online_floors is not None:
        problems += online_failures(summary, **online_floors)
    where = f"{summary['scene']}/{summary['day']}"
    return f"{where}: " + "; ".join(problems) if problems else ""


def online_failures(summary: dict, *, min_online_precision: float, min_online_recall: float,
                    min_online_boxes: int) -> list[str]:
    """The canary's online false-alarm and miss rates where its precision or recall on returned labels is below the
    project's floor, each judged (as the champion's retrain trigger is) only on at least min_online_boxes boxes:
    detections for precision, labelled boxes for recall. A canary no worse there than the champion on the same
    frames is not rolled back for it: the champion would serve the scene no better (its own breach already asks for
    a retrain), and the same weights in a new package must be able to pass."""
    found = []
    judged = (("precision", "false-alarm", min_online_precision, "detections"),
              ("recall", "miss", min_online_recall, "labelled_boxes"))
    for metric, rate_name, floor, support in judged:
        value = float(summary.get(f"challenger_online_{metric}", float("nan")))
        champion = float(summary.get(f"online_{metric}", float("nan")))
        boxes = int(summary.get(f"challenger_online_{support}", 0) or 0)
        if value != value or boxes < min_online_boxes or value >= floor or value >= champion:
            continue  # NaN: undefined, not bad; a NaN champion compares False, so the floor alone judges
        beside = "" if champion != champion else f" and the champion's {champion:.3f}"
        found.append(f"online {rate_name} rate {1.0 - value:.1%} ({metric} {value:.3f} below the floor {floor:g}"
                     f"{beside} on {boxes} {support.replace('_', ' ')}, label version "
                     f"{str(summary.get('challenger_online_label_version', ''))[:12]})")
    return found
