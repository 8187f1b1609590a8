"""track-eval and det-eval through `register`, on the real material and on broken files."""

from __future__ import annotations

import argparse
import json

import pytest

from vision_assets.cli.evaluation_commands import register

TRACK_KEYS = ("mota", "motp", "idf1", "idp", "idr", "hota", "num_switches", "num_fragmentations",
              "num_false_positives", "num_misses")  # fmt: skip


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="vision-assets")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def tud(material):
    return str(material / "mot" / "TUD-Campus" / "gt.txt"), str(material / "mot" / "TUD-Campus" / "test.txt")


@pytest.fixture(scope="module")
def shapes(material):
    return str(material / "coco" / "shapes" / "gt_dataset.json"), str(material / "coco" / "shapes" / "dt_dataset.json")


def test_track_eval_json(tud, capsys):
    code, out, err = run(["track-eval", *tud, "--format", "mot", "--json"], capsys)
    assert code == 0 and err == ""
    result = json.loads(out)
    for key in TRACK_KEYS:
        assert isinstance(result[key], int | float) and not isinstance(result[key], bool), key
    assert result["mota"] == pytest.approx(0.526462, abs=1e-6)
    assert result["idf1"] == pytest.approx(0.557659, abs=1e-6)
    assert result["motp"] == pytest.approx(0.277201, abs=1e-6)
    assert result["hota"] == pytest.approx(0.3913974378451139, abs=1e-9)
    assert (result["num_switches"], result["num_fragmentations"]) == (7, 7)
    assert (result["num_false_positives"], result["num_misses"]) == (13, 150)


def test_track_eval_text(tud, capsys):
    code, out, _ = run(["track-eval", *tud], capsys)
    assert code == 0
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert lines["mota"] == "0.526462" and lines["num_switches"] == "7" and lines["hota"] == "0.391397"


@pytest.mark.needs_material("coco/shapes/gt_dataset.json", "coco/shapes/dt_dataset.json")
def test_det_eval_json(shapes, capsys):
    code, out, err = run(["det-eval", *shapes, "--json"], capsys)
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["stats"][:3] == pytest.approx([0.6947194719471946] * 3, abs=1e-9)
    assert result["stats"][4] == pytest.approx(0.7920792079207921, abs=1e-9)
    assert result["map50_95"] == pytest.approx(0.6947194719471946, abs=1e-9)
    assert result["map50"] == pytest.approx(0.6947194719471946, abs=1e-9)
    assert result["map75"] == pytest.approx(0.6947194719471946, abs=1e-9)
    assert set(result["per_class_ap"]) == {"cloud", "heart", "arrow", "star"}


@pytest.mark.needs_material("coco/shapes/gt_dataset.json", "coco/shapes/dt_dataset.json")
def test_det_eval_text(shapes, capsys):
    code, out, _ = run(["det-eval", *shapes], capsys)
    assert code == 0
    assert "  AP     0.694719" in out and "  APs    -1.000000  (undefined" in out
    assert "  star                 1.000000" in out


def _one_error_line(code: int, out: str, err: str, path) -> str:
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(path) in err
    return err


def test_track_eval_bad_inputs(tud, tmp_path, capsys):
    missing = tmp_path / "nope.txt"
    err = _one_error_line(*run(["track-eval", str(missing), tud[1]], capsys), missing)
    assert "no such file" in err
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("this,is,not\na,mot,file\n")
    err = _one_error_line(*run(["track-eval", tud[0], str(garbage), "--json"], capsys), garbage)
    assert "MOT" in err and err.count(str(garbage)) == 1
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 4)
    _one_error_line(*run(["track-eval", str(binary), tud[1]], capsys), binary)
    _one_error_line(*run(["track-eval", str(tmp_path), tud[1]], capsys), tmp_path)
    twice = tmp_path / "twice.txt"
    twice.write_text("1,1,0,0,10,10,1\n1,1,5,5,10,10,1\n")
    err = _one_error_line(*run(["track-eval", str(twice), tud[1]], capsys), twice)
    assert "twice in one frame" in err


@pytest.mark.needs_material("coco/shapes/gt_dataset.json", "coco/shapes/dt_dataset.json")
def test_det_eval_bad_inputs(shapes, tmp_path, capsys):
    missing = tmp_path / "nope.json"
    err = _one_error_line(*run(["det-eval", shapes[0], str(missing)], capsys), missing)
    assert "no such file" in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [')
    err = _one_error_line(*run(["det-eval", str(broken), shapes[1], "--json"], capsys), broken)
    assert "not valid JSON" in err
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    _one_error_line(*run(["det-eval", shapes[0], str(binary)], capsys), binary)
    stray = tmp_path / "stray.json"
    stray.write_text(json.dumps([{"image_id": 777, "category_id": 1, "bbox": [0, 0, 4, 4], "score": 0.9}]))
    err = _one_error_line(*run(["det-eval", shapes[0], str(stray)], capsys), stray)
    assert "777" in err
