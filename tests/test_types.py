"""The library type-checks with mypy (settings in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_clean():
    exe = Path(sys.executable).with_name("mypy")
    if not exe.exists():
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    result = subprocess.run([str(exe), "glaciermap"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
