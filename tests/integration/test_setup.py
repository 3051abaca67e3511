"""``make python`` (part of ``make setup``) prints no build-backend warning box."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_make_python_prints_no_build_backend_warning() -> None:
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    done = subprocess.run(["make", "--always-make", "python"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "!!" not in done.stderr, done.stderr
