"""Synthetic slides with planted identifiers, and private copies of the shared real slides.

Shared files are never modified: every test works on copies under tmp_path.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.conftest import SHARED_DATA

SLIDES = SHARED_DATA / "slides"
# Strings planted in the synthetic files; none may survive de-identification.
PLANTED = ("JOHN_DOE_123", "01/02/24", "10:11:12", "dr-tanaka", "SS-4711", "BARCODE-4711", "St Elsewhere")


def _pixels(h: int, w: int, seed: int) -> np.ndarray:
    """Textured RGB so JPEG tiles differ and a mis-wired tile would show."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    img[:, :, 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    return img


def copy_shared(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / Path(name).name
    if (SLIDES / name).is_dir():
        shutil.copytree(SLIDES / name, dst)
        for p in dst.iterdir():
            p.chmod(0o644)
    else:
        shutil.copyfile(SLIDES / name, dst)
    return dst


def make_svs(path: Path) -> Path:
    """Aperio-like SVS: 2 tiled levels, thumbnail, label and macro, identifiers in every description."""
    ident = (
        "|AppMag = 20|MPP = 0.5|Filename = JOHN_DOE_123|Date = 01/02/24|Time = 10:11:12"
        "|User = dr-tanaka|ScanScope ID = SS-4711|Barcode = BARCODE-4711"
    )
    base = _pixels(1024, 1536, 1)
    common = {"photometric": "rgb", "metadata": None, "software": False}
    with tifffile.TiffWriter(path) as w:
        w.write(
            base,
            tile=(256, 256),
            compression="jpeg",
            description="Aperio Image Library v12.0.0 \r\n1536x1024 [0,0 1536x1024] (256x256) JPEG/RGB Q=70" + ident,
            datetime="2024:01:02 10:11:12",
            extratags=[
                (315, "s", 0, "dr-tanaka", True),
                (316, "s", 0, "SS-4711-host", True),
                (269, "s", 0, "JOHN_DOE_123.svs", True),
                (65000, "s", 0, "private JOHN_DOE_123", True),
            ],
            **common,
        )
        w.write(base[::8, ::8], rowsperstrip=16, compression="jpeg",
                description="Aperio Image Library v12.0.0 \r\n1536x1024 -> 192x128 - " + ident, **common)
        w.write(base[::4, ::4], tile=(128, 128), compression="jpeg",
                description="Aperio Image Library v12.0.0 \r\n1536x1024 [0,0 1536x1024] (128x128) -> 384x256 JPEG/RGB Q=70"
                + ident, **common)
        w.write(_pixels(200, 300, 2), rowsperstrip=200, compression="lzw", subfiletype=1,
                description="Aperio Image Library v12.0.0 \r\nlabel 300x200", **common)
        w.write(_pixels(200, 600, 3), rowsperstrip=200, compression="jpeg", subfiletype=9,
                description="Aperio Image Library v12.0.0 \r\nmacro 600x200", **common)
    return path


def _ndpi_tags(lens: float) -> list[tuple[int, str, int, object, bool]]:
    props = (
        "Created=2024/01/02\r\nUpdated=01/02/24 10:11:12\r\nNDP.S/N=SS-4711\r\n"
        "Barcode=BARCODE-4711\r\nSourceLens=20\r\nProduct=C9600-12\r\n"
    )
    return [
        (65420, "I", 1, 1, True),
        (65421, "f", 1, lens, True),
        (65422, "i", 1, 0, True),
        (65423, "i", 1, 0, True),
        (65424, "i", 1, 0, True),
        (65449, "s", 0, props, True),
        (65427, "s", 0, "REF JOHN_DOE_123", True),
        (65468, "s", 0, "BARCODE-4711", True),
        (306, "s", 0, "2024:01:02 10:11:12", True),
    ]


def make_ndpi(path: Path) -> Path:
    """NDPI-like file OpenSlide accepts: single-strip JPEG levels, Hamamatsu private tags, a macro."""
    base = _pixels(512, 768, 4)
    with tifffile.TiffWriter(path) as w:
        for im in (base, base[::2, ::2], base[::4, ::4]):
            w.write(im, rowsperstrip=im.shape[0], compression="jpeg", photometric="rgb", metadata=None,
                    software="NDP.scan", resolution=(43826, 43826), resolutionunit="CENTIMETER",
                    extratags=_ndpi_tags(20.0))
        w.write(_pixels(200, 600, 5), rowsperstrip=200, compression="jpeg", photometric="rgb", metadata=None,
                software="NDP.scan", extratags=_ndpi_tags(-1.0))
    return path


def make_generic(path: Path) -> Path:
    """Generic tiled pyramidal TIFF with identifying baseline tags and an untiled label page."""
    base = _pixels(512, 640, 6)
    tags = [(315, "s", 0, "dr-tanaka", True), (316, "s", 0, "SS-4711", True), (269, "s", 0, "JOHN_DOE_123", True)]
    with tifffile.TiffWriter(path) as w:
        w.write(base, tile=(128, 128), compression="zlib", photometric="rgb", metadata=None, software=False,
                description="slide of JOHN_DOE_123 scanned 01/02/24", datetime="2024:01:02 10:11:12", extratags=tags)
        w.write(base[::2, ::2], tile=(128, 128), compression="zlib", photometric="rgb", metadata=None,
                software=False, subfiletype=1, extratags=tags)
        w.write(_pixels(100, 200, 7), rowsperstrip=100, photometric="rgb", metadata=None, software=False,
                description="label BARCODE-4711")
    return path


def make_dicom(tmp_path: Path) -> Path:
    """Copy of the shared DICOM series with patient/study identifiers, a private tag and a LABEL instance."""
    import pydicom
    from pydicom.uid import generate_uid

    d = copy_shared("dicom-cmu1-small", tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in sorted(d.glob("*.dcm")):
            ds = pydicom.dcmread(p)
            ds.PatientName = "DOE^JOHN_DOE_123"
            ds.PatientID = "JOHN_DOE_123"
            ds.PatientBirthDate = "19700101"
            ds.AccessionNumber = "ACC-998877"
            ds.StudyDate = "20240102"
            ds.StudyTime = "101112"
            ds.InstitutionName = "St Elsewhere Hospital"
            ds.OperatorsName = "dr-tanaka"
            ds.ContainerIdentifier = "BARCODE-4711"
            ds.add_new((0x0009, 0x0010), "LO", "ACME")
            ds.add_new((0x0009, 0x1001), "LO", "PRIVATE JOHN_DOE_123")
            ds.save_as(p)
        label = pydicom.dcmread(d / "level-5-frames-0-1.dcm")
        label.ImageType = ["ORIGINAL", "PRIMARY", "LABEL", "NONE"]
        label.SOPInstanceUID = generate_uid()
        label.file_meta.MediaStorageSOPInstanceUID = label.SOPInstanceUID
        label.LabelText = "JOHN_DOE_123 renal biopsy"
        label.BarcodeValue = "BARCODE-4711"
        label.save_as(d / "label.dcm")
    return d


@pytest.fixture
def work(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    (tmp_path / "out").mkdir()
    return d
