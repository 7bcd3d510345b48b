"""Session-wide synthetic slides for tests/synth, tests/pipeline and tests/models (made once per process)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

REPO = Path(__file__).resolve().parents[2]
SHARED = SHARED_DATA  # one lookup for every test (tests/conftest.py)


@cache
def _workdir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="glomcheck-synth-"))
    atexit.register(shutil.rmtree, d, True)
    return d


@cache
def make_test_slide(name: str, seed: int, stain: str = "pas", fmt: str = "tiff", level_step: int = 2) -> Path:
    """A small one-section synthetic slide (2.4 mm core), generated once per test process."""
    from worker.synth import make_slide

    path, _ = make_slide(_workdir() / name, seed=seed, stain=stain, fmt=fmt, level_step=level_step)  # type: ignore[arg-type]
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED / "glomeruli" / "labels.csv").exists():
        pytest.fail(f"shared data not found at {SHARED} (set GLOMCHECK_SHARED_DATA)", pytrace=False)
    return SHARED


@pytest.fixture(scope="session")
def synth_tiff() -> Path:
    return make_test_slide("s11.tiff", 11, "pas", "tiff")


@pytest.fixture(scope="session")
def synth_svs() -> Path:
    return make_test_slide("s21.svs", 21, "he", "svs")
