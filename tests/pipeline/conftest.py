"""Fixtures: synthetic slides made once per test process."""

from __future__ import annotations

from tests.synth.fixtures import shared_data, synth_svs, synth_tiff  # noqa: F401
