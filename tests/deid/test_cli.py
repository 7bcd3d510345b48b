"""`glomcheck deidentify IN OUT [--json]`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from app.cli import main
from tests.deid.conftest import copy_shared


def test_cli_text_and_json(work: Path) -> None:
    src = copy_shared("CMU-1-Small-Region.svs", work)
    runner = CliRunner()
    res = runner.invoke(main, ["deidentify", str(src), str(work.parent / "out" / "case-0020.svs")])
    assert res.exit_code == 0, res.output
    assert "verified:      yes" in res.output and "associated_image: label" in res.output
    res = runner.invoke(main, ["deidentify", str(src), str(work.parent / "out" / "case-0021.svs"), "--json"])
    assert res.exit_code == 0, res.output
    cert = json.loads(res.output)
    assert cert["verified"] is True and cert["pseudonym"] == "case-0021"
    assert {r["name"] for r in cert["removed"] if r["kind"] == "associated_image"} == {"label", "macro"}


def test_cli_refuses_input_as_output(work: Path) -> None:
    src = copy_shared("CMU-1-Small-Region.svs", work)
    before = src.read_bytes()
    res = CliRunner().invoke(main, ["deidentify", str(src), str(src)])
    assert res.exit_code != 0
    assert "refusing to write the de-identified copy over its input" in res.output
    assert src.read_bytes() == before


def test_cli_bad_input(work: Path) -> None:
    src = work / "x.svs"
    src.write_text("not a slide")
    res = CliRunner().invoke(main, ["deidentify", str(src), str(work.parent / "out" / "x.svs")])
    assert res.exit_code == 2 and "error:" in res.output
    assert list((work.parent / "out").iterdir()) == []
