"""Serving code never imports torch (it is only in the `train` extra)."""

from __future__ import annotations

import subprocess
import sys


def test_pipeline_and_evaluation_do_not_import_torch() -> None:
    code = (
        "import sys; import worker.pipeline.run, worker.pipeline.cli, worker.evaluation.cli, worker.evaluation.crops, "
        "worker.evaluation.fields, worker.synth; assert 'torch' not in sys.modules, 'torch imported'"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
