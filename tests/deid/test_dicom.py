"""DICOM WSI series: LABEL instance dropped, patient/study attributes blanked, frames unchanged."""

from __future__ import annotations

import warnings
from pathlib import Path

import openslide
import pydicom
import pytest

from app.deid import DeidError, deidentify
from tests.deid.conftest import make_dicom
from tests.deid.helpers import assert_clean, removed_names


def _read(p: Path) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(p)


def test_dicom_series(tmp_path: Path) -> None:
    src = make_dicom(tmp_path)
    with openslide.OpenSlide(str(src / "level-0-frames-0-30.dcm")) as s:
        assert "label" in s.associated_images  # the planted LABEL instance is really visible
    dst = tmp_path / "case-0007"
    cert = deidentify(src, dst, pseudonym="case-0007")
    outputs = sorted(dst.glob("*.dcm"))
    assert len(outputs) == 12  # 12 levels kept, label dropped
    base = next(p for p in outputs if _read(p).TotalPixelMatrixColumns == 2220)
    assert_clean(src / "level-0-frames-0-30.dcm", base, dst, cert,
                 planted=("JOHN_DOE_123", "St Elsewhere", "dr-tanaka", "BARCODE-4711", "ACC-998877", "19700101",
                          "20240102", "ACME"))
    assert cert.format == "dicom"
    assert removed_names(cert, "associated_image") == {"label"}
    assert {"PatientBirthDate", "AccessionNumber", "StudyDate", "StudyTime", "ContentDate", "InstitutionName",
            "OperatorsName", "ContainerIdentifier", "private tags"} <= removed_names(cert, "dicom_attribute")
    before, after = _read(src / "level-0-frames-0-30.dcm"), _read(base)
    assert after.PatientID == "case-0007" and after.PatientIdentityRemoved == "YES"
    assert after.StudyInstanceUID != before.StudyInstanceUID
    assert after.PixelData == before.PixelData  # encapsulated JPEG frames copied byte for byte
    assert len({_read(p).SeriesInstanceUID for p in outputs}) == 1


def test_dicom_refuses_existing_output_folder(tmp_path: Path) -> None:
    src = make_dicom(tmp_path)
    (tmp_path / "exists").mkdir()
    with pytest.raises(DeidError):
        deidentify(src, tmp_path / "exists", pseudonym="case-0008")


def test_dicom_folder_without_slides(tmp_path: Path) -> None:
    d = tmp_path / "notdicom"
    d.mkdir()
    (d / "a.dcm").write_text("hello")
    with pytest.raises(DeidError, match="no DICOM whole-slide"):
        deidentify(d, tmp_path / "out", pseudonym="case-0009")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["notdicom"]
