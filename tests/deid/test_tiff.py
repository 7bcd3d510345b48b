"""SVS, NDPI and generic TIFF: label/macro gone, identifiers gone, pyramid bytes and pixels unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import openslide
import tifffile

from app.deid import deidentify
from tests.deid.conftest import copy_shared, make_generic, make_ndpi, make_svs
from tests.deid.helpers import assert_clean, removed_names


def _tile_hashes(path: Path) -> list[str]:
    """SHA-256 of every compressed strip/tile of the tiled levels: proof nothing was recompressed."""
    out = []
    with tifffile.TiffFile(path) as t, path.open("rb") as f:
        for page in t.pages:
            if not page.is_tiled:
                continue
            for off, n in zip(page.dataoffsets, page.databytecounts, strict=True):
                f.seek(off)
                out.append(hashlib.sha256(f.read(n)).hexdigest())
    return out


def test_real_cmu_svs(work: Path) -> None:
    src = copy_shared("CMU-1-Small-Region.svs", work)
    dst = work.parent / "out" / "case-0001.svs"
    cert = deidentify(src, dst, pseudonym="case-0001")
    assert_clean(src, dst, dst, cert, planted=("CMU-1", "12/29/09", "09:59:15", "CPAPERIOCS",
                                               "b414003d-95c6-48b0-9369-8010ed517ba7"))
    assert cert.format == "aperio-svs"
    assert removed_names(cert, "associated_image") == {"label", "macro"}
    assert {"aperio.Filename", "aperio.Date", "aperio.Time", "aperio.User", "aperio.ScanScope ID"} <= removed_names(
        cert, "property"
    )
    with openslide.OpenSlide(str(dst)) as s:
        assert list(s.associated_images) == ["thumbnail"]
        assert s.properties["openslide.mpp-x"] == "0.499"  # optics survive
        assert s.properties["aperio.AppMag"] == "20"
    assert _tile_hashes(src) == _tile_hashes(dst)


def test_synthetic_svs(work: Path) -> None:
    src = make_svs(work / "JOHN_DOE_123.svs")
    dst = work.parent / "out" / "case-0002.svs"
    cert = deidentify(src, dst, pseudonym="case-0002")
    assert_clean(src, dst, dst, cert)
    assert removed_names(cert, "associated_image") == {"label", "macro"}
    assert {"DateTime", "Artist", "HostComputer", "DocumentName", "tag 65000 (private)"} <= removed_names(cert, "tag")
    assert {"aperio.Barcode", "aperio.Filename", "aperio.User"} <= removed_names(cert, "property")
    assert _tile_hashes(src) == _tile_hashes(dst)
    with tifffile.TiffFile(dst) as t:
        assert len(t.pages) == 3  # level 0, thumbnail, level 1


def test_synthetic_ndpi(work: Path) -> None:
    src = make_ndpi(work / "slide.ndpi")
    with openslide.OpenSlide(str(src)) as s:
        assert "macro" in s.associated_images and "hamamatsu.Reference" in s.properties
    dst = work.parent / "out" / "case-0003.ndpi"
    cert = deidentify(src, dst, pseudonym="case-0003")
    assert_clean(src, dst, dst, cert)
    assert cert.format == "hamamatsu-ndpi"
    assert "macro" in removed_names(cert, "associated_image")
    assert {"NDPI SlideLabel/Reference", "NDPI Barcode", "DateTime"} <= removed_names(cert, "tag")
    assert {"hamamatsu.Created", "hamamatsu.NDP.S/N", "hamamatsu.Barcode"} <= removed_names(cert, "property")
    with openslide.OpenSlide(str(dst)) as s:
        assert s.properties["hamamatsu.Product"] == "C9600-12"
        assert s.properties["openslide.objective-power"] == "20"


def test_real_ndpi(work: Path) -> None:
    src = copy_shared("ndpi-fluorescence-dapi.ndpi", work)
    dst = work.parent / "out" / "case-0004.ndpi"
    cert = deidentify(src, dst, pseudonym="case-0004")
    assert_clean(src, dst, dst, cert, planted=("2011/05/23", "2017/01/27", "950291", "950410", "2017:02:07"))
    assert removed_names(cert, "associated_image") == {"macro", "map"}
    assert {"NDPI ScannerSerialNumber", "DateTime"} <= removed_names(cert, "tag")


def test_generic_tiff(work: Path) -> None:
    src = make_generic(work / "JOHN_DOE_123.tiff")
    dst = work.parent / "out" / "case-0005.tiff"
    cert = deidentify(src, dst, pseudonym="case-0005")
    assert_clean(src, dst, dst, cert)
    assert cert.format == "generic-tiff"
    assert "untiled image" in removed_names(cert, "associated_image")
    assert {"ImageDescription", "DateTime", "Artist", "HostComputer", "DocumentName"} <= removed_names(cert, "tag")
    assert _tile_hashes(src) == _tile_hashes(dst)


def test_shared_generic_and_tiny_svs_roundtrip(work: Path) -> None:
    for name in ("generic-tiled-boxes.tiff", "tiny-16px.svs"):
        src = copy_shared(name, work)
        dst = work.parent / "out" / name
        cert = deidentify(src, dst, pseudonym="case-0006")
        assert cert.verified
        with openslide.OpenSlide(str(src)) as a, openslide.OpenSlide(str(dst)) as b:
            assert a.level_dimensions == b.level_dimensions
            assert a.properties.get("openslide.icc-size") == b.properties.get("openslide.icc-size")
