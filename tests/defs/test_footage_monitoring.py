"""footage_monitoring on real footage: after a champion trained on the demo exists, a street clip from the test
material lands as a new scene-day and is flagged out of distribution with a p-value; the demo's own next day is not."""

from __future__ import annotations

import json
import shutil

import cv2
import dagster as dg
import pytest
from helpers import TINY_SPEC, run_once, settings_for, tiny_definitions, write_clip

pytestmark = pytest.mark.slow  # trains the tiny champion once

DAY, NEXT_DAY = "2026-11-18", "2026-11-19"
# One camera, 6 videos of 3 s (day and night alternate): its training split holds both lightings, as a real
# deployment's would; the session's tiny landing (2 videos a scene) leaves one lighting per scene in training.
SPEC = {**TINY_SPEC, "scenes": ("cam-a",), "days": (DAY,), "videos_per_day": 6}


def land_real_footage(material, landing, scene: str, day: str, frames: int = 80) -> None:
    """The first seconds of the OpenCV campus clip (a real camera, people walking), cut as an H.264 clip."""
    capture = cv2.VideoCapture(str(material / "videos" / "vtest.avi"))
    images = []
    while len(images) < frames:
        ok, image = capture.read()
        if not ok:
            break
        images.append(cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA))
    capture.release()
    folder = landing / scene / day
    folder.mkdir(parents=True)
    write_clip(folder / "campus.mp4", images, fps=10)


def land_demo_next_day(landing, tmp_path) -> None:
    """The demo generator's next day for cam-a, unlabelled (monitoring needs no labels)."""
    from vision_assets.demo import DemoSpec, generate_demo_data

    generated = tmp_path / "next_day"
    generate_demo_data(generated, DemoSpec(**{**SPEC, "days": (NEXT_DAY,), "videos_per_day": 2}))
    target = landing / "cam-a" / NEXT_DAY
    target.mkdir(parents=True)
    for video in (generated / "cam-a" / NEXT_DAY).glob("*.mp4"):
        shutil.copy2(video, target / video.name)


def latest_check(instance, check: str, partition: str):
    from dagster._core.storage.event_log.base import PartitionKeyFilter

    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("footage_monitoring"), check), limit=50,
        partition_filter=PartitionKeyFilter(key=partition))
    return records[0]


def register_copy(registry, champion, weights=None):
    """Another version: the champion's own package again, or a run holding other weights."""
    name, tags = "vision_assets_detector", dict(champion.tags)
    if weights is None:
        return registry.register(name, champion.run_id, champion.source.split(f"{champion.run_id}/", 1)[1], tags)
    with registry.run("other-weights", {}) as run_id:
        registry.log_artifact(run_id, weights, "weights")
    return registry.register(name, run_id, "weights", {**tags, "checkpoint_sha256": "e" * 64})


def watch(daemon, scene: str):
    from vision_assets.local.launch import ASSET_JOB

    outcome = daemon.execute(ASSET_JOB, f"{NEXT_DAY}|{scene}", [dg.AssetKey("footage_monitoring")])
    assert outcome.success
    return daemon.instance.get_latest_materialization_event(dg.AssetKey("footage_monitoring")).asset_materialization


def test_real_footage_is_flagged_out_of_distribution_and_the_demo_next_day_is_not(tmp_path, instance, material,
                                                                                  monkeypatch, capsys):
    from vision_assets.core.lake import Lake, keys
    from vision_assets.core.registry import ModelRegistry
    from vision_assets.demo import DemoSpec, generate_demo_data

    settings = settings_for(tmp_path / "data")
    generate_demo_data(settings.landing_dir, DemoSpec(**SPEC))
    defs = tiny_definitions(settings)
    daemon = run_once(defs, instance)
    assert all(r.success for r in daemon.runs), [r for r in daemon.runs if not r.success]
    champion = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root).champion(
        "vision_assets_detector")
    assert champion is not None

    land_real_footage(material, settings.landing_dir, "campus", NEXT_DAY)
    land_demo_next_day(settings.landing_dir, tmp_path)
    daemon.sensor_tick("landing_sensor")
    daemon.automation_until_quiet(daemon.automation_cursor())  # frames, then the champion watches them

    assert all(r.success for r in daemon.runs), [r for r in daemon.runs if not r.success]
    lake = Lake(settings.lake_root)
    assert lake.exists(keys.monitoring_baseline_key(champion.tags["checkpoint_sha256"]))
    rows = lake.read_tables(keys.FOOTAGE_MONITORING).set_index(["scene", "day"])
    # Every ingested partition is watched, labelled or not: the two trained-on days too (a new champion arrived).
    assert set(rows.index) == {("cam-a", DAY), ("cam-a", NEXT_DAY), ("campus", NEXT_DAY)}
    assert set(rows["champion_version"]) == {str(champion.version)}
    campus, next_day = rows.loc[("campus", NEXT_DAY)], rows.loc[("cam-a", NEXT_DAY)]
    print(rows[["frames", "baseline_reference", "baseline_frames", "drift_score", "drift_p_value"]].to_string())
    assert (campus["baseline_reference"], next_day["baseline_reference"]) == ("all scenes", "cam-a")
    assert campus["frames"] >= 10 and next_day["frames"] >= 10
    assert campus["drift_p_value"] < 0.01 < next_day["drift_p_value"]
    assert campus["drift_score"] > next_day["drift_score"]

    flagged = latest_check(instance, "footage_in_distribution", f"{NEXT_DAY}|campus")
    calm = latest_check(instance, "footage_in_distribution", f"{NEXT_DAY}|cam-a")
    assert flagged.status.value == "FAILED" and calm.status.value == "SUCCEEDED"
    evaluation = flagged.event.dagster_event.event_specific_data
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "drift" in evaluation.description and "p = " in evaluation.description
    assert evaluation.metadata["drift_p_value"].value == pytest.approx(campus["drift_p_value"], rel=1e-3)

    # Drift feeds the loop: the drifting partition's hard examples are mined now; the calm one waits for the night.
    runs_before = len(daemon.runs)
    assert daemon.sensor_tick("drift_sensor") == 1
    mined = daemon.runs[runs_before:]
    assert [(r.job, r.partition, r.success) for r in mined] == [("mine_hard_examples", f"{NEXT_DAY}|campus", True)]
    tags = instance.get_run_by_id(mined[0].run_id).tags
    assert tags["dagster/sensor_name"] == "drift_sensor"
    assert float(tags["vision/drift_p_value"]) == pytest.approx(campus["drift_p_value"], rel=1e-3)
    assert lake.exists(keys.mined_marker_key("campus", NEXT_DAY))
    assert not lake.exists(keys.mined_marker_key("cam-a", NEXT_DAY))
    assert daemon.sensor_tick("drift_sensor") == 0  # mined for this champion: not asked again

    # Labels come back for the flagged partition (and the demo's own for its next day): the champion's online
    # false-alarm and miss rates there, checked against Ultralytics' own predict at the served operating point matched
    # by pycocotools; below the floor, a retrain is requested.
    from online_helpers import (
        champion_package,
        imported_labels,
        pycocotools_counts,
        retrain_request,
        return_campus_labels,
        served_predictions,
    )

    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    weights, served = champion_package(registry, champion, tmp_path / "package")
    campus_labels = return_campus_labels(lake, served, "campus", NEXT_DAY, settings.landing_dir, tmp_path)
    for cvat in (tmp_path / "next_day" / "cam-a" / NEXT_DAY).glob("*.xml"):  # the demo's labels of its next day
        shutil.copy2(cvat, (settings.landing_dir / "annotations" / "cam-a" / NEXT_DAY).mkdir(parents=True, exist_ok=True)
                     or settings.landing_dir / "annotations" / "cam-a" / NEXT_DAY / cvat.name)
    assert daemon.sensor_tick("label_drop_sensor") == 2
    daemon.automation_until_quiet(daemon.automation_cursor())  # QC, then footage_monitoring is due again
    assert all(r.success for r in daemon.runs), [r for r in daemon.runs if not r.success]
    rows, returned = {}, {}
    for scene in ("campus", "cam-a"):
        row = lake.read_table(keys.FOOTAGE_MONITORING, {"scene": scene, "day": NEXT_DAY}).iloc[0]
        paths, labels = imported_labels(lake, scene, NEXT_DAY, tmp_path / "check")
        predictions = served_predictions(weights, paths, served)
        expected = pycocotools_counts(labels, predictions, list(served["class_names"]), int(served["max_det"]))
        tp, fp, fn = (expected["all"][k] for k in ("tp", "fp", "fn"))
        print(scene, {k: row[k] for k in row.index if k.startswith("online_")}, expected)
        assert (row["online_frames"], row["online_conf"], row["online_max_det"]) == (len(paths), served["conf"],
                                                                                     served["max_det"])
        assert (row["online_tp"], row["online_fp"], row["online_fn"]) == (tp, fp, fn)
        assert row["online_recall"] == pytest.approx(tp / (tp + fn)) == 1 - row["online_miss_rate"]
        if tp + fp:
            assert row["online_precision"] == pytest.approx(tp / (tp + fp)) == 1 - row["online_false_alarm_rate"]
        by_class = {c["class_name"]: (c["tp"], c["fp"], c["fn"]) for c in json.loads(row["online_by_class"])}
        assert by_class == {c: tuple(v.values()) for c, v in expected.items() if c != "all" and any(v.values())}
        rows[scene], returned[scene] = row, (paths, labels)
    # The tiny champion (one epoch) says nothing at its served confidence: on the new camera every person the
    # labeller drew is missed, on the demo's next day every car, pedestrian and cyclist (frames that lost a box to
    # QC left out). The canary below brings false alarms to count.
    campus, demo = rows["campus"], rows["cam-a"]
    assert campus["online_fn"] == sum(map(len, campus_labels)) >= 10 and campus["online_recall"] == 0.0
    assert demo["online_fn"] >= 10 and demo["online_frames"] < demo["frames"] and demo["online_recall"] == 0.0
    judged = latest_check(instance, "online_accuracy_above_floor", f"{NEXT_DAY}|campus")
    assert judged.status.value == "FAILED"
    verdict = judged.event.dagster_event.event_specific_data
    assert verdict.severity == dg.AssetCheckSeverity.WARN and "a retrain is requested" in verdict.description
    trained_on = latest_check(instance, "online_accuracy_above_floor", f"{DAY}|cam-a")  # training footage: not online
    assert trained_on.status.value == "SUCCEEDED"
    assert trained_on.event.dagster_event.event_specific_data.description.startswith("not judged")
    request = retrain_request(daemon.defs, instance).run_requests[0]
    reason = request.tags["vision/retrain_reason"]
    print("retrain", request.run_key, reason)
    assert (f"campus/{NEXT_DAY}: online recall 0.000 < 0.5 ({campus['online_fn']} labelled boxes) "
            f"(champion v{champion.version})") in reason
    assert f"cam-a/{NEXT_DAY}: online recall 0.000 < 0.5 ({demo['online_fn']} labelled boxes)" in reason
    assert {b.rsplit("|", 1)[0] for b in request.tags["vision/online_breaches"].split(",")} == {
        f"campus|{NEXT_DAY}|v{champion.version}", f"cam-a|{NEXT_DAY}|v{champion.version}"}
    assert retrain_request(daemon.defs, instance).run_requests[0].run_key == request.run_key  # one retrain per breach
    # Once a retrain ran for these breaches (a run of the training job carries them), they ask for none again; what
    # remains is the label-count rule (this world retrains on 1 new label).
    launched = instance.create_run_for_job(daemon.defs.resolve_job_def("train_and_register"), tags=request.tags)
    instance.report_run_canceled(launched)
    assert [r.run_key[:7] for r in retrain_request(daemon.defs, instance).run_requests] == ["labels-"]

    # Canary: a version serves beside the champion on one scene; completed by a person, or rolled back by monitoring.
    from evaluation_helpers import confident_weights

    from vision_assets import cli
    from vision_assets.core.registry import read_audit

    monkeypatch.setenv("VISION_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("VISION_USER", "release-rita")
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    same = register_copy(registry, champion)
    assert cli.main(["promote", str(same.version), "--canary", "campus", "--reason", "same weights, new package"]) == 0
    watched = watch(daemon, "campus")
    assert watched.metadata["canary_version"].value == str(same.version)
    assert watched.metadata["canary_verdict"].value == "passed"
    assert watched.metadata["shadow_disagreement_rate"].value == 0.0
    assert [watched.metadata[f"challenger_online_{k}"].value for k in ("tp", "fp", "fn", "recall")] == [
        watched.metadata[f"online_{k}"].value for k in ("tp", "fp", "fn", "recall")]  # same weights, same rates
    assert cli.main(["promote", str(same.version), "--complete"]) == 0
    assert str(registry.champion("vision_assets_detector").version) == str(same.version)
    assert registry.by_alias("vision_assets_detector", "canary") is None

    wild_weights = confident_weights(tmp_path)
    wild = register_copy(registry, registry.champion("vision_assets_detector"), wild_weights)
    assert cli.main(["promote", str(wild.version), "--canary", "campus"]) == 0
    watched = watch(daemon, "campus")
    # The canary's online rates on the same returned labels (it serves at the champion's operating point: the copy
    # carries its tags): its confident "car" boxes are false alarms, its persons misses.
    paths, labels = returned["campus"]
    expected = pycocotools_counts(labels, served_predictions(wild_weights, paths, served), list(served["class_names"]),
                                  int(served["max_det"]))["all"]
    assert [watched.metadata[f"challenger_online_{k}"].value for k in ("tp", "fp", "fn")] == [
        expected["tp"], expected["fp"], expected["fn"]]
    print("canary online", expected)
    assert expected["fp"] > 0
    verdict = watched.metadata["canary_verdict"].value
    assert verdict.startswith(f"campus/{NEXT_DAY}: disagrees with the champion on")
    assert registry.by_alias("vision_assets_detector", "canary") is None  # rolled back: the champion serves on
    assert str(registry.champion("vision_assets_detector").version) == str(same.version)
    assert registry.get_version("vision_assets_detector", str(wild.version)).tags["canary_rolled_back"] == verdict
    events = read_audit(lake)
    canary_events = events[events["action"].str.startswith("canary")]
    assert canary_events["action"].tolist() == ["canary", "canary_complete", "canary", "canary_rollback"]
    assert canary_events["reason"].iloc[-1] == verdict
    assert canary_events["actor"].iloc[0] == "release-rita"

    # Which version served which scene when: the canary on campus while it lasted, the champion elsewhere.

    promoted = events.loc[events["action"] == "promote", "time"].iloc[0]
    started, completed, restarted, rolled_back = canary_events["time"].tolist()
    v1, v2, v3 = str(champion.version), str(same.version), str(wild.version)
    capsys.readouterr()
    assert cli.main(["lineage", "--served", "--json"]) == 0
    rows = [tuple(row.values()) for row in json.loads(capsys.readouterr().out)["served"]]
    assert rows == [("cam-a", v1, "champion", promoted, completed), ("cam-a", v2, "champion", completed, None),
                    ("campus", v1, "champion", promoted, started), ("campus", v2, "canary", started, completed),
                    ("campus", v2, "champion", completed, restarted), ("campus", v3, "canary", restarted, rolled_back),
                    ("campus", v2, "champion", rolled_back, None),
                    ("*", v1, "champion", promoted, completed), ("*", v2, "champion", completed, None)]
    # The rolled-back canary's monitoring page shows the day it ran in shadow on campus.
    page = lake.local_path(keys.monitoring_page_key("vision_assets_detector", v3)).read_text()
    assert "In shadow" in page and "campus" in page and "rolled back" in page
