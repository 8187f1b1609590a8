"""One error family: an error a user can act on is a VisionError naming the object and the problem; a bare
ValueError is raised only where a caller broke a function's contract, at the sites listed here with the reason."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from vision_assets.core.errors import InvalidInput, InvalidOption, VisionError

PACKAGE = Path(__file__).resolve().parents[2] / "vision_assets"

# file (relative to vision_assets/) : function (qualified) -> why its bare ValueError is a programming error.
# A new user-facing check raises a VisionError subclass instead; a new contract check is added here, with its reason.
PROGRAMMING_ERRORS = {
    "core/evaluation/curves.py:f1_confidence": "the caller passed an empty list of confidences",
    "core/evaluation/curves.py:thumbnail": "the bytes are a plot or frame this code drew",
    "core/evaluation/error_table.py:filter_errors": "kind comes from code or the CLI's --kind choices",
    "core/evaluation/error_table.py:encode_jpeg": "OpenCV failed to encode an array this code built",
    "core/evaluation/metrics.py:evaluate_by_slice": "table contract of evaluate_by_slice (its slice column)",
    "core/evaluation/metrics.py:_require_columns": "table contract of evaluate_detections (user files are checked "
                                                   "first, by detection_files' InputFileError)",
    "core/evaluation/metrics.py:_check_boxes": "table contract of evaluate_detections",
    "core/evaluation/metrics.py:_run_checks": "table contract of evaluate_detections",
    "core/labels/canonical.py:write_annotations": "writers are called by this code (hard-example export), with a "
                                                  "format name it chose",
    "core/labels/formats/common.py:size_for": "writer contract: the caller passes image_size",
    "core/labels/formats/common.py:one_video": "writer contract: the caller passes one video's rows",
    "core/labels/formats/common.py:class_list": "writer contract: class_names covers the rows",
    "core/labels/formats/cvat_video.py:_check_tracks": "writer contract: canonical tracks, one class and one box "
                                                       "per frame",
    "core/labels/formats/label_studio.py:_results_of": "writer contract: canonical tracks, one class and one box "
                                                       "per frame",
    "core/labels/formats/mot.py:write_mot": "writer contract: MOT classes, and untracked= for rows without a track",
    "core/monitoring/drift.py:mmd_permutation_test": "array shapes the caller built",
    "core/preview.py:decode_jpeg": "the bytes are a JPEG this code wrote",
    "core/preview.py:encode_jpeg": "OpenCV failed to encode an array this code built",
    "core/preview.py:contact_sheet": "the caller passed no images",
    "core/qc/engine.py:_context": "QcConfig.severities is set in code, not in the project file",
    "core/qc/engine.py:run_qc": "the table comes from read_annotations, which gives every canonical column",
    "core/qc/registry.py:qc_rule": "a rule's severity is written in code",
    "core/qc/registry.py:qc_rule.register": "a rule's name is written in code",
    "core/registry/audit.py:record_event": "the action is named in code",
    "core/registry/detector_model.py:YoloDetector.predict": "this file is served without the vision_assets package, "
                                                            "so it cannot raise a VisionError",
    "core/registry/package.py:build_package": "the inference config is the evaluation's own, built by this code",
    "core/training/sweep.py:_coerce": "caught on the next line and raised again as a SweepSpaceError",
    "core/video/browser_mp4.py:frame_rate": "callers pass a probed, positive rate",
    "core/video/browser_mp4.py:BrowserMp4Writer.write": "every frame of one writer has the size it was opened with",
}


def bare_value_error_sites() -> dict[str, list[int]]:
    """`file:function` -> line numbers of each `raise ValueError` / `raise ValueError(...)` in the package."""
    sites: dict[str, list[int]] = {}

    def visit(node: ast.AST, where: str, names: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                visit(child, where, [*names, child.name])
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                raised = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                if isinstance(raised, ast.Name) and raised.id == "ValueError":
                    sites.setdefault(f"{where}:{'.'.join(names) or '<module>'}", []).append(child.lineno)
            visit(child, where, names)

    for path in sorted(PACKAGE.rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), path.relative_to(PACKAGE).as_posix(), [])
    return sites


def test_a_bare_value_error_is_raised_only_at_the_listed_programming_error_sites():
    sites = bare_value_error_sites()

    unlisted = {site: lines for site, lines in sites.items() if site not in PROGRAMMING_ERRORS}
    assert not unlisted, ("bare `raise ValueError` outside the programming-error list; an error a user can act on "
                          "raises a VisionError subclass (core/errors.py) naming the object and the problem: "
                          + "; ".join(f"{site} (line {', '.join(map(str, lines))})" for site, lines in unlisted.items()))
    stale = sorted(set(PROGRAMMING_ERRORS) - set(sites))
    assert not stale, f"listed as programming-error sites but raising no bare ValueError any more: {stale}"


def test_the_scan_finds_both_forms_of_a_bare_raise():
    sites = bare_value_error_sites()

    assert "core/training/sweep.py:_coerce" in sites  # `raise ValueError` without a call
    assert "core/qc/registry.py:qc_rule.register" in sites  # a nested function, named through its parent


@pytest.mark.parametrize("kind", [InvalidInput, InvalidOption])
def test_the_general_kinds_are_vision_errors_that_old_value_error_callers_still_catch(kind):
    error = kind(object="clip.mp4", problem="has no video stream")

    assert isinstance(error, VisionError) and isinstance(error, ValueError)
    assert (str(error), error.object, error.problem) == ("clip.mp4: has no video stream", "clip.mp4",
                                                          "has no video stream")


def test_user_errors_name_the_object_and_the_problem(tmp_path):
    from vision_assets.core.training.sweep import SweepSpaceError, load_space
    from vision_assets.defs.partitions import split_scene_day
    from vision_assets.demo import DemoSpec
    from vision_assets.project_schema import POSITIVE

    with pytest.raises(InvalidOption) as partition:
        split_scene_day("cam-a")
    assert (partition.value.object, partition.value.problem) == (
        "partition 'cam-a'", "not a scene-day key '<YYYY-MM-DD>|<scene>'")

    with pytest.raises(InvalidOption) as day:
        DemoSpec(days=("18.11.2026",))
    assert str(day.value) == "demo spec day '18.11.2026': not a YYYY-MM-DD date"

    with pytest.raises(InvalidOption, match=r"^must be a positive integer, got 0$"):
        POSITIVE(0)  # the project file's loader puts the file and key in front (tests/test_project_config.py)

    space = tmp_path / "space.yaml"
    space.write_text("space: {lr0: [0.01, fast]}\n")
    with pytest.raises(SweepSpaceError) as sweep:
        load_space(space)
    assert (sweep.value.object, sweep.value.problem) == (str(space), "lr0: 'fast' is not a float")
