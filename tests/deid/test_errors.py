"""Bad input: a clear DeidError (a 422 domain error) and nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.deid import DeidError, deidentify
from app.errors import Unprocessable
from tests.deid.conftest import SLIDES, copy_shared, make_svs


def _assert_nothing_written(out_dir: Path) -> None:
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize(
    "name", ["invalid/truncated.svs", "invalid/unsupported-compression.tiff", "invalid/corrupt-tile.svs"]
)
def test_invalid_shared_files(work: Path, name: str) -> None:
    src = copy_shared(name, work)
    out = work.parent / "out"
    with pytest.raises(DeidError) as info:
        deidentify(src, out / src.name, pseudonym="case-0010")
    assert isinstance(info.value, Unprocessable) and info.value.status_code == 422
    _assert_nothing_written(out)


def test_text_renamed_svs(work: Path) -> None:
    src = work / "notes.svs"
    src.write_text("Patient JOHN_DOE_123, not a slide\n" * 20)
    with pytest.raises(DeidError, match="unsupported"):
        deidentify(src, work.parent / "out" / "x.svs", pseudonym="case-0011")
    _assert_nothing_written(work.parent / "out")


def test_truncated_synthetic_svs(work: Path) -> None:
    full = make_svs(work / "full.svs")
    src = work / "cut.svs"
    src.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    with pytest.raises(DeidError):
        deidentify(src, work.parent / "out" / "cut.svs", pseudonym="case-0012")
    _assert_nothing_written(work.parent / "out")


def test_refuses_to_overwrite_input(work: Path) -> None:
    src = copy_shared("CMU-1-Small-Region.svs", work)
    before = src.read_bytes()
    with pytest.raises(DeidError, match="over its input"):
        deidentify(src, src, pseudonym="case-0013")
    with pytest.raises(DeidError, match="over its input"):
        deidentify(src, work / "sub" / ".." / src.name, pseudonym="case-0013")
    link = work.parent / "out" / "link.svs"
    link.symlink_to(src)
    with pytest.raises(DeidError, match="over its input"):
        deidentify(src, link, pseudonym="case-0013")
    assert src.read_bytes() == before
    assert sorted(p.name for p in work.iterdir()) == [src.name]


def test_other_refusals(work: Path) -> None:
    src = copy_shared("CMU-1-Small-Region.svs", work)
    out = work.parent / "out"
    with pytest.raises(DeidError, match="pseudonym"):
        deidentify(src, out / "a.svs", pseudonym="../../etc")
    with pytest.raises(DeidError, match="extension"):
        deidentify(src, out / "a.tiff", pseudonym="case-0014")
    with pytest.raises(DeidError, match="not found"):
        deidentify(work / "missing.svs", out / "a.svs", pseudonym="case-0014")
    with pytest.raises(DeidError, match="does not exist"):
        deidentify(src, out / "nope" / "a.svs", pseudonym="case-0014")
    _assert_nothing_written(out)


def test_existing_output_replaced_atomically(work: Path) -> None:
    src = copy_shared("CMU-1-Small-Region.svs", work)
    dst = work.parent / "out" / "a.svs"
    dst.write_bytes(b"old")
    cert = deidentify(src, dst, pseudonym="case-0015")
    assert dst.stat().st_size > 1000 and cert.verified
    assert [p.name for p in dst.parent.iterdir()] == ["a.svs"]  # no temporary left
    assert (SLIDES / "CMU-1-Small-Region.svs").stat().st_size == src.stat().st_size


def test_mrxs_refused_not_faked(work: Path) -> None:
    src = work / "slide.mrxs"
    src.write_text("[GENERAL]\nSLIDE_ID=JOHN_DOE_123\n")
    with pytest.raises(DeidError, match="MRXS"):
        deidentify(src, work.parent / "out" / "slide.mrxs", pseudonym="case-0016")
    _assert_nothing_written(work.parent / "out")


def test_dicom_file_output_inside_its_series_folder_refused(tmp_path: Path) -> None:
    from tests.deid.conftest import make_dicom

    src = make_dicom(tmp_path)
    with pytest.raises(DeidError, match="inside the input"):
        deidentify(src / "level-0-frames-0-30.dcm", src / "out", pseudonym="case-0017")
    assert not (src / "out").exists()


def test_verification_catches_a_leak(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If a format module lets an identifier through, verification refuses to publish the copy."""
    from app.deid import tiff

    monkeypatch.setattr(tiff, "APERIO_KEEP", tiff.APERIO_KEEP | {"Filename"})
    src = make_svs(work / "JOHN_DOE_123.svs")  # the original file name is always searched for
    with pytest.raises(DeidError, match="verification"):
        deidentify(src, work.parent / "out" / "case-0018.svs", pseudonym="case-0018")
    _assert_nothing_written(work.parent / "out")
