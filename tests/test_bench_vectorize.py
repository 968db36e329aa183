"""bench/vectorize.py keeps working: its --smoke run (seconds) is part of the default test run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_vectorize_benchmark_smoke_run(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "vectorize.py"),
            "--smoke",
            "--out-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    baseline = re.search(r"baseline \(one shapes call\): ([\d.]+) s, .* (\d+) polygons", out)
    ours = re.search(
        r"glaciermap --workers 1: ([\d.]+) s, peak memory (\d+) MiB .* (\d+) polygons", out
    )
    assert baseline and ours, out
    assert float(baseline[1]) > 0 and float(ours[1]) > 0 and int(ours[2]) > 0
    assert int(baseline[2]) == int(ours[3]) > 100  # the procedural mosaic holds many glaciers
    assert "polygons match the baseline" in out
    assert "(0.0e+00 relative)" in out  # exact areas: glacier pixels x pixel area

    summary = json.loads((tmp_path / "results.json").read_text())
    assert summary["pixels"] == 512 * 512
    assert summary["glaciermap-1"]["polygons"] == summary["baseline"]["polygons"]
