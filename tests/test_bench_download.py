"""bench/download.py keeps running: its --smoke mode prints every figure in a few seconds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("curl") is None, reason="the benchmark compares with curl")
def test_the_download_benchmark_runs_and_prints_its_figures():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "download.py"), "--smoke"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for figure in ("small ", "large ", "resume ", "members RTC", "members INSAR"):
        assert any(line.startswith(figure) for line in lines), (figure, done.stdout)
    assert "ratio curl/glaciermap" in done.stdout and "0 bytes of them twice" in done.stdout
