"""Class aliases on import, the classes still unknown per file, and the QC gate's one line."""

from __future__ import annotations

import pandas as pd

from vision_assets.core.labels import empty_annotations
from vision_assets.core.labels.aliases import apply_aliases, unknown_class_lines, unknown_classes
from vision_assets.core.qc.failure import pass_rate_line


def _rows(*pairs: tuple[str, str]) -> pd.DataFrame:
    """Canonical rows of these (source file, class name)."""
    rows = pd.DataFrame(pairs, columns=["source_file", "class_name"])
    return pd.concat([empty_annotations().drop(columns=["source_file", "class_name"]), rows]).reset_index(drop=True)


def test_an_alias_becomes_its_class_and_the_rest_is_reported_per_file():
    rows = _rows(("a.json", "person"), ("a.json", "person"), ("a.json", "dog"), ("b.txt", "pedestrian"),
                 ("b.txt", "cat"), ("b.txt", "cat"), ("b.txt", "cat"))
    mapped = apply_aliases(rows, {"person": "pedestrian"})
    assert mapped["class_name"].tolist() == ["pedestrian", "pedestrian", "dog", "pedestrian", "cat", "cat", "cat"]
    assert rows["class_name"].tolist()[0] == "person"  # the caller's table is not changed
    found = unknown_classes(mapped, ["pedestrian"])
    assert found == [{"source_file": "b.txt", "class_name": "cat", "rows": 3},
                     {"source_file": "a.json", "class_name": "dog", "rows": 1}]
    assert unknown_class_lines(found) == ["b.txt: cat: 3 rows, not in classes", "a.json: dog: 1 rows, not in classes"]
    assert unknown_classes(mapped, ["pedestrian", "cat", "dog"]) == []


def test_the_gate_line_names_the_rate_the_threshold_and_the_rules_that_rejected():
    rejected = pd.DataFrame({"class_name": ["person"] * 3 + ["car"], "reasons": ["unknown_class"] * 3
                             + ["box_outside_image;duplicate_box"]})
    counts = {"unknown_class": 3, "box_outside_image": 1, "duplicate_box": 1, "track_gap": 7}
    assert pass_rate_line(0.529, 0.9, 8, counts, rejected) == \
        "52.9 % < 90 %: unknown_class 3 (person), box_outside_image 1, duplicate_box 1"
    assert pass_rate_line(1.0, 0.9, 8, {}, rejected.iloc[:0]) == "100.0 % >= 90 %"


def test_each_video_tells_its_label_rows_and_a_video_without_labels_is_a_warning():
    from vision_assets.core.labels.story import story_lines

    story = [{"scene": "campus", "day": "2024-03-05", "video": "a.mp4", "label_files": ["a.txt"], "imported": 548,
              "kept": 547, "unknown_classes": [{"source_file": "a.txt", "class_name": "dog", "rows": 1}]},
             {"scene": "campus", "day": "2024-03-05", "video": "b.mp4", "label_files": [], "imported": 0, "kept": 0,
              "unknown_classes": []}]
    assert story_lines(story) == [
        "campus/2024-03-05 a.mp4: 548 label rows imported, 547 kept (a.txt)",
        "  a.txt: dog: 1 rows, not in classes",
        "warning: campus/2024-03-05 b.mp4: no labels (usable for mining, not for datasets)",
    ]
