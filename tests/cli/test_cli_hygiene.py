"""What an operator meets at the edges: unreadable input, a closed pipe, a full disk, hostile names."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid

import pytest
from helpers import REPO_ROOT
from test_cli_errors import one_line_error, write_coco
from test_cli_video import run_cli

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "report_\u202egpj.json" shows as "report_nosj.jpg"


def test_qc_of_an_unreadable_file_fails_naming_it(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [{"id": 1, "file_name": "frame_000001.jpg"')  # cut off mid-upload

    result = run_cli("qc", str(broken))

    line = one_line_error(result, "broken.json", "unreadable")
    assert "100" not in result.stdout and "pass rate - (no rows read)" in result.stdout, (result.stdout, line)


def test_qc_json_of_an_unreadable_file_fails_and_has_no_pass_rate(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"\xff\xfe\x00garbage")

    result = run_cli("qc", str(broken), "--json")

    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert report["pass_rate"] is None and [p["file"] for p in report["unreadable"]] == [str(broken)]
    assert "broken.json" in result.stderr


def test_qc_of_a_folder_warns_of_the_unreadable_file_and_fails_when_nothing_was_read(tmp_path):
    write_coco(tmp_path / "good.json", [1, 2, 3, 4])
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "only_bad").mkdir()
    (tmp_path / "only_bad" / "bad.json").write_text("{not json")

    mixed = run_cli("qc", str(tmp_path))
    nothing = run_cli("qc", str(tmp_path / "only_bad"))

    assert mixed.returncode == 0, mixed.stderr
    assert "1 rows" in mixed.stdout and "pass rate 100.0%" in mixed.stdout
    assert mixed.stderr.startswith("vision-assets: warning: ") and "bad.json" in mixed.stderr
    assert "good.json" not in mixed.stderr
    one_line_error(nothing, "bad.json", "unreadable")


def test_summary_into_a_closed_pipe_stops_quietly_like_head_makes_it(tmp_path):
    env = {**os.environ, "VISION_DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen([sys.executable, "-m", "vision_assets.cli", "summary"], cwd=REPO_ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the command writes its first line (`| head -0`)

    stderr = process.stderr.read().decode()
    code = process.wait(timeout=300)

    assert stderr == "" and code == 141, (code, stderr)


def test_names_with_bidi_overrides_and_escapes_are_printed_escaped(tmp_path):
    tricky = tmp_path / f"report_{RLO}gpj\x1b[31m.json"
    write_coco(tricky, [1, 2, 3, 4])

    result = run_cli("qc", str(tricky))
    missing = run_cli("qc", str(tmp_path / f"gone_{RLO}4pm.json"))

    assert result.returncode == 0, result.stderr
    assert RLO not in result.stdout and "\x1b" not in result.stdout
    assert "report_\\u202egpj\\x1b[31m.json" in result.stdout
    line = one_line_error(missing, "gone_\\u202e4pm.json", "no such file")
    assert RLO not in line


def test_printable_keeps_ordinary_text_and_escapes_controls():
    from vision_assets.core.text import printable

    assert printable("caméra_東京 👩\u200d💻.mp4") == "caméra_東京 👩\u200d💻.mp4"  # joiners render emoji
    assert printable(f"a{RLO}b\u2066c\rd\n", keep="\n") == "a\\u202eb\\u2066c\\x0dd\n"


def test_stderr_keeps_the_colours_of_log_lines_but_no_other_control_sequence():
    import io

    from vision_assets.core.text import EscapingStream

    stderr = io.StringIO()
    EscapingStream(stderr, allow_colour=True).write(f"\x1b[33mWARNING\x1b[0m {RLO}x\x1b]0;title\x07\n")

    assert stderr.getvalue() == "\x1b[33mWARNING\x1b[0m \\u202ex\\x1b]0;title\\x07\n"


@pytest.fixture
def full_data_folder(tmp_path):
    """A data folder on a real 2 MB file system, filled to the last byte (needs root to mount; skipped without)."""
    mount = tmp_path / "small_disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    try:
        data = mount / "data"
        for folder in ("mlflow", "dagster_home", "landing", "work", "lake"):
            (data / folder).mkdir(parents=True)
        shutil.copyfile(REPO_ROOT / "dagster.yaml", data / "dagster_home" / "dagster.yaml")
        filler = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(filler, b"\0" * 65536):
                pass
        except OSError:
            pass  # the disk is full
        finally:
            os.close(filler)
        yield data
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_naming_the_folder(full_data_folder, tmp_path):
    result = run_cli("ingest", data_dir=full_data_folder)  # the first thing it does: write the instance database

    line = one_line_error(result, str(full_data_folder), "disk full")
    assert "unexpected" not in line and "OperationalError" not in line


def test_sqlite_reporting_a_full_database_is_read_as_a_full_disk(tmp_path, monkeypatch):
    from vision_assets.cli.main import _one_line_failure

    monkeypatch.setenv("VISION_DATA_DIR", str(tmp_path / "data"))
    database = sqlite3.connect(tmp_path / "tiny.db")
    database.execute("PRAGMA max_page_count = 2")
    database.execute("CREATE TABLE t (x TEXT)")
    with pytest.raises(sqlite3.OperationalError) as raised:
        for _ in range(100):
            database.execute("INSERT INTO t VALUES (?)", (uuid.uuid4().hex * 64,))
    assert "full" in str(raised.value)

    assert _one_line_failure(raised.value, debug=False) == 2
