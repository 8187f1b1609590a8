"""Ingest one landing-zone video: hash, store content-addressed, probe, quarantine if undecodable.

Identical bytes are stored once (the blob path is the hash) and every later copy, in this partition or
another, is reported as a duplicate of the first. Re-encodes of the same footage are reported as
near-duplicates from the perceptual signature the probe computes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from vision_assets.core.ingest.landing import LandingFile, label_fingerprint
from vision_assets.core.ingest.thresholds import NEAR_DUPLICATE_DISTANCE, NEAR_DUPLICATE_DURATION_SHARE
from vision_assets.core.lake import Lake, keys, sha256_file
from vision_assets.core.registry.forgotten import forgotten_videos
from vision_assets.core.video import NormaliseSpec, normalise_video, probe_video, signature_distance

RAW_VIDEO_COLUMNS = [
    "video_sha256", "source_name", "source_path", "source_size", "source_mtime_ns", "outcome", "reason",
    "stored_path", "codec", "width", "height", "fps", "fps_header", "frames_claimed", "frames_decoded",
    "duration_s", "keyframes", "signature", "lighting", "weather", "device", "capture_start", "tags", "sidecar",
    "partition_from", "duplicate_of", "near_duplicate_of", "near_duplicate_sha256", "near_duplicate_distance",
    "normalised_path", "normalised", "label_files", "ingested_at", "hashed_at", "rotation",
]
DECODABLE = ("ok", "truncated")
# Column defaults for rows written before a column existed, and for rows of files that could not be read.
ROW_DEFAULTS = {"codec": "unknown", "width": 0, "height": 0, "fps": 0.0, "fps_header": 0.0, "frames_claimed": 0,
                "frames_decoded": 0, "duration_s": 0.0, "keyframes": 0, "signature": "", "lighting": "", "weather": "",
                "device": "", "capture_start": "", "tags": "[]", "sidecar": "{}", "partition_from": "path",
                "duplicate_of": "", "near_duplicate_of": "", "near_duplicate_sha256": "",
                "near_duplicate_distance": float("nan"), "normalised_path": "", "normalised": "{}", "label_files": "",
                "ingested_at": "", "hashed_at": "", "stored_path": "", "reason": "", "rotation": 0}
# Name, size and mtime say "unchanged" only for a while: bytes replaced with the same size and a restored mtime
# (cp -p, rsync -t, a write inside the mtime tick) are caught by hashing every landed file again once its last hash
# is this old (VISION_REHASH_DAYS; 0 turns it off). A file just written is not re-hashed at once: that would cost
# every fresh landing a second ingest run (the demo, the CLI's land-then-ingest), for a case the schedule catches.
DEFAULT_REHASH_DAYS = 7.0


@dataclasses.dataclass(frozen=True)
class IngestOptions:
    normalise: NormaliseSpec = NormaliseSpec()
    near_duplicate_distance: float = NEAR_DUPLICATE_DISTANCE


def ingest_file(lake: Lake, landing: LandingFile, cache_dir: Path, previous: dict | None = None,
                options: IngestOptions = IngestOptions()) -> dict:
    """One row of the raw_videos table.

    The file is copied once while hashed, and the copy is what gets probed and stored, so the stored bytes
    are exactly the hashed and probed ones. A file already ingested unchanged (same name, size, mtime) is
    neither copied nor probed again.
    """
    if _unchanged(previous, landing):
        return {**previous, "source_path": landing.landing_key or landing.path.name, "label_files": label_fingerprint(landing.path)}
    try:
        if _same_stat(previous, landing):  # due to be hashed again: the bytes decide, without copying or probing
            if sha256_file(landing.path) == previous["video_sha256"]:
                return {**previous, "source_path": landing.landing_key or landing.path.name,
                        "label_files": label_fingerprint(landing.path),
                        "source_mtime_ns": landing.mtime_ns, "hashed_at": _now()}
        return _ingest_new(lake, landing, cache_dir, options)
    except OSError as error:
        # The file could not even be copied (vanished, unreadable): this one fails, the batch goes on.
        return {**ROW_DEFAULTS, "video_sha256": "", "source_name": landing.path.name, "source_path": landing.landing_key or landing.path.name,
                "source_size": landing.size, "source_mtime_ns": landing.mtime_ns, "outcome": "failed",
                "reason": f"{landing.path.name}: could not be read: {error}",
                "ingested_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def _unchanged(previous: dict | None, landing: LandingFile) -> bool:
    """Same name, size and mtime as an earlier ingest, probed by this version (a row without a signature predates
    near-duplicate detection and a failed read is worth another try), and not due to be hashed again."""
    return _probed_by_this_version(previous) and not rehash_due(previous) \
        and (previous["source_size"], previous["source_mtime_ns"]) == (landing.size, landing.mtime_ns)


def _probed_by_this_version(previous: dict | None) -> bool:
    return bool(previous) and previous["outcome"] != "failed" \
        and (previous["outcome"] == "quarantined" or bool(previous.get("signature")))


def _same_stat(previous: dict | None, landing: LandingFile) -> bool:
    """An earlier complete row of the same size whose mtime matches or was left in doubt (0): bytes to compare."""
    return _probed_by_this_version(previous) and bool(previous.get("video_sha256")) \
        and int(previous["source_size"]) == landing.size and int(previous["source_mtime_ns"]) in (0, landing.mtime_ns)


def rehash_due(row: dict, now: dt.datetime | None = None) -> bool:
    """Whether a row's last hash is older than the re-hash period (its ingest time for rows from before
    `hashed_at` existed)."""
    days = float(os.environ.get("VISION_REHASH_DAYS") or DEFAULT_REHASH_DAYS)
    stamp = str(row.get("hashed_at") or row.get("ingested_at") or "")
    if days <= 0 or not stamp:
        return False
    try:
        hashed = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return True
    hashed = hashed if hashed.tzinfo else hashed.replace(tzinfo=dt.UTC)
    return (now or dt.datetime.now(dt.UTC)) - hashed > dt.timedelta(days=days)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _ingest_new(lake: Lake, landing: LandingFile, cache_dir: Path, options: IngestOptions) -> dict:
    sidecar = landing.sidecar  # validated by the scan (sidecar.py): read once, from a file inside the zone
    suffix = landing.path.suffix.lower()
    staged, digest = lake.stage_file(landing.path, cache_dir)
    if digest in forgotten_videos(lake):  # a person asked for these bytes to be deleted: they never come back
        staged.unlink(missing_ok=True)
        return {**ROW_DEFAULTS, "video_sha256": "", "source_name": landing.path.name,
                "source_path": landing.landing_key or landing.path.name, "source_size": landing.size,
                "source_mtime_ns": landing.mtime_ns, "outcome": "forgotten",
                "reason": f"{landing.path.name}: a forgotten video (vision-assets forget): not ingested again",
                "ingested_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    try:
        probe = probe_video(staged)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    if probe.reason:
        probe = dataclasses.replace(probe, reason=probe.reason.replace(staged.name, landing.path.name))
    normalised = {}
    if probe.outcome == "quarantined":
        # Kept aside whole, with its reason, so nothing is lost and someone can look at it.
        stored = lake.commit_staged(staged, keys.quarantine_key(digest, suffix))
        lake.write_json(keys.quarantine_reason_key(digest), {"source": landing.landing_key or landing.path.name,
                                                             "reason": probe.reason})
    else:
        if options.normalise.enabled:
            try:
                normalised = _normalise(lake, staged, digest, cache_dir, options.normalise)
            except (OSError, ValueError) as error:  # the original is still good; say why there is no copy
                normalised = {"facts": {"error": f"{landing.path.name}: normalisation failed: {error}"}}
        stored = lake.commit_staged(staged, keys.blob_key(keys.VIDEO_BLOBS, digest, suffix))
    return {
        "video_sha256": digest,
        "source_name": landing.path.name,
        "source_path": landing.landing_key or landing.path.name,
        "source_size": landing.size,
        "source_mtime_ns": landing.mtime_ns,
        "outcome": probe.outcome,
        "reason": probe.reason,
        "stored_path": stored,
        **{k: getattr(probe, k) for k in ("codec", "width", "height", "fps", "fps_header", "frames_claimed",
                                          "frames_decoded", "duration_s", "keyframes", "rotation")},
        "signature": probe.signature,
        "lighting": str(sidecar.get("lighting", "")),
        "weather": str(sidecar.get("weather", "")),
        "device": str(sidecar.get("device", "")),
        "capture_start": str(sidecar.get("capture_start", "")),
        "tags": json.dumps(sidecar.get("tags", []), sort_keys=True),
        "sidecar": json.dumps(sidecar, sort_keys=True),
        "partition_from": landing.partition_from,
        "duplicate_of": "",
        "near_duplicate_of": "",
        "near_duplicate_sha256": "",
        "near_duplicate_distance": float("nan"),
        "normalised_path": normalised.get("stored_path", ""),
        "normalised": json.dumps(normalised.get("facts", {}), sort_keys=True),
        "label_files": label_fingerprint(landing.path),
        "ingested_at": _now(),
        "hashed_at": _now(),
    }


def _normalise(lake: Lake, staged: Path, digest: str, cache_dir: Path, spec: NormaliseSpec) -> dict:
    """The transcoded copy is a blob of its own; the original bytes stay the source of truth."""
    target = cache_dir / f"{digest}.normalised.mp4"
    facts = normalise_video(staged, target, spec)
    normalised_digest, stored, _ = lake.put_blob_file(keys.VIDEO_BLOBS, target, ".mp4")
    target.unlink(missing_ok=True)
    return {"stored_path": stored, "facts": {**facts, "sha256": normalised_digest}}


def ingest_partition(lake: Lake, files: list[LandingFile], previous: pd.DataFrame | None, cache_dir: Path,
                     workers: int = 2, elsewhere: pd.DataFrame | None = None,
                     options: IngestOptions = IngestOptions()) -> pd.DataFrame:
    """Ingest a partition's files in parallel (hashing and decoding release the GIL).

    `elsewhere` holds the raw_videos rows of the other partitions (with scene and day), so copies arriving
    under another scene or day are reported against what is already in the lake.
    """
    previous, elsewhere = _up_to_date(previous), _up_to_date(elsewhere)
    known = {} if previous is None else {row["source_name"]: row for row in previous.to_dict("records")}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        rows = list(pool.map(lambda f: ingest_file(lake, f, cache_dir, known.get(f.path.name), options), files))
    table = pd.DataFrame(rows, columns=RAW_VIDEO_COLUMNS)
    # New bytes: no earlier row, or another hash than it (a file hashed again and found the same is not fresh).
    fresh = {row["source_name"] for row in rows
             if row["source_name"] not in known or row["video_sha256"] != known[row["source_name"]]["video_sha256"]
             or row["ingested_at"] != known[row["source_name"]]["ingested_at"]}
    originals = _originals_elsewhere(elsewhere)
    _mark_duplicates(table, fresh, originals)
    _mark_near_duplicates(table, fresh, originals, options.near_duplicate_distance)
    return table


def _up_to_date(rows: pd.DataFrame | None) -> pd.DataFrame | None:
    """raw_videos rows written before a column existed, with that column's default instead of NaN."""
    if rows is None:
        return None
    rows = rows.assign(**{c: v for c, v in ROW_DEFAULTS.items() if c not in rows})
    return rows.fillna({c: v for c, v in ROW_DEFAULTS.items() if isinstance(v, str)})


def _originals_elsewhere(elsewhere: pd.DataFrame | None) -> pd.DataFrame:
    if elsewhere is None or elsewhere.empty:
        return pd.DataFrame(columns=["video_sha256", "where", "signature", "duration_s"])
    originals = elsewhere[elsewhere["outcome"].isin(DECODABLE) & (elsewhere["duplicate_of"] == "")]
    return originals.assign(where=originals["scene"] + "/" + originals["day"] + "/" + originals["source_name"])


def _mark_duplicates(table: pd.DataFrame, fresh: set[str], originals: pd.DataFrame) -> None:
    """A row keeps the status it got when first ingested, so reruns never flip which copy is the original."""
    first_elsewhere = dict(zip(originals["video_sha256"], originals["where"]))
    first_here: dict[str, str] = {}
    originals_here = set(table.loc[(table["duplicate_of"] == "") & table["outcome"].isin(DECODABLE), "video_sha256"])
    for index, row in table.iterrows():
        digest, name = row["video_sha256"], row["source_name"]
        if row["outcome"] == "failed":
            continue
        still_a_copy = digest in first_elsewhere or digest in originals_here  # its original may have been replaced
        if name not in fresh and (not row["duplicate_of"] or still_a_copy):
            if not row["duplicate_of"]:
                first_here.setdefault(digest, name)
            continue
        original = first_elsewhere.get(digest) or first_here.setdefault(digest, name)
        table.at[index, "duplicate_of"] = "" if original == name else original


def _mark_near_duplicates(table: pd.DataFrame, fresh: set[str], originals: pd.DataFrame, max_distance: float) -> None:
    candidates = [(r["where"], r["video_sha256"], r["signature"], float(r["duration_s"]))
                  for r in originals.to_dict("records") if r["signature"]]
    for index, row in table.iterrows():
        decodable = row["outcome"] in DECODABLE and not row["duplicate_of"] and row["signature"]
        if row["source_name"] in fresh and decodable:
            best = _closest(row, candidates, max_distance)
            if best:
                table.loc[index, ["near_duplicate_of", "near_duplicate_sha256", "near_duplicate_distance"]] = best
        if decodable:
            candidates.append((row["source_name"], row["video_sha256"], row["signature"], float(row["duration_s"])))


def _closest(row, candidates, max_distance: float):
    duration = float(row["duration_s"])
    best = None
    for where, digest, signature, other_duration in candidates:
        if digest == row["video_sha256"]:
            continue
        if abs(duration - other_duration) > NEAR_DUPLICATE_DURATION_SHARE * max(duration, other_duration):
            continue
        distance = signature_distance(row["signature"], signature)
        if distance <= max_distance and (best is None or distance < best[2]):
            best = (where, digest, float(distance))
    return best


def usable_videos(table: pd.DataFrame | None) -> pd.DataFrame:
    """Videos whose frames downstream stages may use: decodable, not a byte-identical duplicate."""
    if table is None or table.empty:
        return pd.DataFrame(columns=RAW_VIDEO_COLUMNS)
    duplicate = table["duplicate_of"].fillna("") != ""
    return table[table["outcome"].isin(DECODABLE) & ~duplicate]
