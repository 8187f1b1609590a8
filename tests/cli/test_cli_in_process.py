"""The in-process runner the slower CLI tests use answers like the real process: same exit code, same stdout, same
stderr, byte for byte."""

from __future__ import annotations

import pytest
from helpers import run_cli_in_process
from test_cli_video import run_cli


@pytest.mark.parametrize("args", [("qc", "missing.json"), ("qc", "a.json", "--image-size", "abc"), ("no-such-command",)])
def test_a_command_in_process_answers_like_the_real_process(args, tmp_path):
    (tmp_path / "a.json").write_text('{"images": [], "annotations": [], "categories": []}')
    args = tuple(str(tmp_path / a) if a.endswith(".json") else a for a in args)

    real, in_process = run_cli(*args), run_cli_in_process(*args)

    assert (in_process.returncode, in_process.stdout, in_process.stderr) == (real.returncode, real.stdout, real.stderr)
    assert real.returncode != 0 and real.stderr
