"""MIRAX (.mrxs + data folder): label/macro gone, identifiers gone, pyramid bytes and pixels unchanged."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import openslide
import pytest
from click.testing import CliRunner

from app.cli import main
from app.deid import DeidError, deidentify
from app.deid.mrxs import pseudonymous_slide_id
from tests.deid.helpers import assert_clean, removed_names
from tests.deid.mrxs_factory import PLANTED, SLIDE_ID, make_mrxs


def _index_records(folder: Path, slide_id: str, n_hier: int, n_nonhier: int) -> tuple[list, list]:
    """Independent Index.dat reader: (hier items per level, nonhier (offset, length, file) per record)."""
    b = (folder / "Index.dat").read_bytes()
    head = len(b"01.02" + slide_id.encode())
    assert b.startswith(b"01.02" + slide_id.encode())

    def i32(p: int) -> int:
        return int(struct.unpack_from("<i", b, p)[0])

    hier_root, nonhier_root = i32(head), i32(head + 4)
    hier = []
    for k in range(n_hier):
        page, items = i32(hier_root + 4 * k), []
        assert i32(page) == 0
        while page:
            n, page_next = i32(page), i32(page + 4)
            items += [struct.unpack_from("<4i", b, page + 8 + 16 * j) for j in range(n)]
            page = page_next
        hier.append(items)
    nonhier = []
    for k in range(n_nonhier):
        rec = i32(nonhier_root + 4 * k)
        page = i32(rec + 4)
        assert i32(page) == 1
        nonhier.append(struct.unpack_from("<3i", b, page + 16))
    return hier, nonhier


def _tile_hashes(folder: Path, hier: list) -> list[str]:
    data = [(folder / "Data0000.dat").read_bytes()]
    return [hashlib.sha256(data[f][off : off + n]).hexdigest() for items in hier for _, off, n, f in items]


def _tree_digest(*paths: Path) -> dict[str, str]:
    out = {}
    for p in paths:
        for q in [p] if p.is_file() else sorted(p.rglob("*")):
            if q.is_file():
                out[str(q)] = hashlib.sha256(q.read_bytes()).hexdigest()
    return out


@pytest.fixture
def mrxs(work: Path) -> Path:
    return make_mrxs(work)


def test_synthetic_mrxs_is_a_real_mirax_slide(mrxs: Path) -> None:
    """The factory's output is what the de-identification has to beat: label, macro and identifiers."""
    with openslide.OpenSlide(str(mrxs)) as s:
        assert s.properties["openslide.vendor"] == "mirax"
        assert s.level_dimensions == ((1024, 1024), (512, 512), (256, 256))
        assert set(s.associated_images) == {"label", "macro", "thumbnail"}
        props = "\n".join(f"{k}={v}" for k, v in s.properties.items())
    assert all(p in props for p in ("JOHN_DOE_123", "BARCODE-4711", "dr-tanaka", "SS-4711", SLIDE_ID))


def test_mrxs_deidentified(mrxs: Path, work: Path) -> None:
    folder = mrxs.with_suffix("")
    before = _tree_digest(mrxs, folder)
    out = work.parent / "out"
    dst = out / "case-0030.mrxs"
    cert = deidentify(mrxs, dst, pseudonym="case-0030")
    dst_dir = out / "case-0030"

    assert_clean(mrxs, dst, dst_dir, cert, planted=PLANTED)
    assert dst.read_bytes() == b""  # the vendor .mrxs is not copied
    assert sorted(p.name for p in out.iterdir()) == ["case-0030", "case-0030.mrxs"]  # no temporary left
    assert sorted(p.name for p in dst_dir.iterdir()) == ["Data0000.dat", "Index.dat", "Slidedat.ini"]
    assert _tree_digest(mrxs, folder) == before  # the input is untouched

    # certificate
    assert cert.format == "mrxs" and cert.pseudonym == "case-0030" and cert.verified
    assert removed_names(cert, "associated_image") == {"label", "macro", "thumbnail"}
    assert {
        "mirax.GENERAL.SLIDE_CREATIONDATETIME",
        "mirax.GENERAL.SLIDE_UTC_CREATIONDATETIME",
        "mirax.GENERAL.SLIDE_BARCODE",
        "mirax.GENERAL.PROJECT_NAME",
        "mirax.GENERAL.OPERATOR_NAME",
        "mirax.GENERAL.SCANNER_HARDWARE_ID",
        "mirax.NONHIERLAYER_0_LEVEL_1_SECTION.*",  # BARCODE_VALUE
        "mirax.SCANNER_SETTINGS.*",
    } <= removed_names(cert, "property")
    assert {".mrxs file contents", "unlisted files in the data folder"} <= removed_names(cert, "file")
    names = {c.name for c in cert.checks}
    assert {
        "no label or macro image",
        "same pixels in sampled regions",
        "no removed identifier in raw bytes",
    } <= names

    # what survives: pseudonymised identity, optics, the pyramid
    with openslide.OpenSlide(str(dst)) as s:
        assert s.properties["openslide.vendor"] == "mirax"
        assert list(s.associated_images) == []
        assert s.properties["mirax.GENERAL.SLIDE_NAME"] == "case-0030"
        assert s.properties["mirax.GENERAL.SLIDE_ID"] == pseudonymous_slide_id("case-0030")
        assert s.properties["openslide.objective-power"] == "40"
        assert s.properties["openslide.mpp-x"] == "0.25"
        assert "mirax.GENERAL.SLIDE_CREATIONDATETIME" not in s.properties
        with openslide.OpenSlide(str(mrxs)) as a:
            for level in range(a.level_count):  # every pixel, not just samples
                size = a.level_dimensions[level]
                assert (
                    a.read_region((0, 0), level, size).tobytes()
                    == s.read_region((0, 0), level, size).tobytes()
                )

    # tiles byte-identical at the same offsets; the label/macro/preview bytes zeroed in the data file
    hier_a, nonhier_a = _index_records(folder, SLIDE_ID, 3, 4)
    hier_b, nonhier_b = _index_records(dst_dir, pseudonymous_slide_id("case-0030"), 3, 1)
    assert hier_a == hier_b
    assert _tile_hashes(folder, hier_a) == _tile_hashes(dst_dir, hier_b)
    assert nonhier_b == [nonhier_a[3]]  # only the camera position buffer is kept
    data = (dst_dir / "Data0000.dat").read_bytes()
    assert len(data) == (folder / "Data0000.dat").stat().st_size
    for off, n, _ in nonhier_a[:3]:
        assert data[off : off + n] == bytes(n)
    assert data.count(b"\xff\xd8\xff") == sum(len(items) for items in hier_a)  # only pyramid JPEGs remain

    # nothing identifying in the certificate itself
    assert "JOHN_DOE_123" not in cert.model_dump_json() and SLIDE_ID not in cert.model_dump_json()


def test_mrxs_cli_json(mrxs: Path, work: Path) -> None:
    res = CliRunner().invoke(
        main, ["deidentify", str(mrxs), str(work.parent / "out" / "case-0031.mrxs"), "--json"]
    )
    assert res.exit_code == 0, res.output
    cert = json.loads(res.output)
    assert cert["verified"] is True and cert["format"] == "mrxs" and cert["pseudonym"] == "case-0031"
    assert {r["name"] for r in cert["removed"] if r["kind"] == "associated_image"} == {
        "label",
        "macro",
        "thumbnail",
    }


def test_mrxs_without_label_layers_still_clean(mrxs: Path, work: Path) -> None:
    """A slide without Scan data layer photos: identifiers still removed, nothing else breaks."""
    ini = mrxs.with_suffix("") / "Slidedat.ini"
    text = ini.read_bytes().decode("utf-8-sig")
    text = text.replace("NONHIER_0_NAME = Scan data layer", "NONHIER_0_NAME = VIMSLIDE_HISTOGRAM_DATA")
    ini.write_bytes(text.encode())
    with openslide.OpenSlide(str(mrxs)) as s:
        assert list(s.associated_images) == []
    cert = deidentify(mrxs, work.parent / "out" / "case-0032.mrxs", pseudonym="case-0032")
    assert cert.verified and removed_names(cert, "associated_image") == set()
    assert any(r.kind == "file" and "VIMSLIDE_HISTOGRAM_DATA" in r.name for r in cert.removed)


# -- bad input: a clear DeidError and nothing written -----------------------------------------------------
def _refused(src: Path, dst: Path, match: str) -> None:
    out = dst.parent
    before = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    with pytest.raises(DeidError, match=match) as info:
        deidentify(src, dst, pseudonym="case-0040")
    assert info.value.status_code == 422
    if out.is_dir():
        assert sorted(p.name for p in out.iterdir()) == before


def test_missing_folder(mrxs: Path, work: Path) -> None:
    shutil.rmtree(mrxs.with_suffix(""))
    _refused(mrxs, work.parent / "out" / "a.mrxs", "MRXS slide needs its data folder")


def test_missing_slidedat(mrxs: Path, work: Path) -> None:
    (mrxs.with_suffix("") / "Slidedat.ini").unlink()
    _refused(mrxs, work.parent / "out" / "a.mrxs", "no Slidedat.ini")


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("SLIDE_ID = ", "SLIDE_ID = 0", "Index.dat does not match"),
        ("[DATAFILE]", "[DATAFILES]", r"no \[DATAFILE\]"),
        ("FILE_0 = Data0000.dat", "FILE_0 = ../../etc/passwd", "data file 0 .* is missing"),
        ("FILE_COUNT = 1", "FILE_COUNT = 2", "FILE_1"),
        ("NONHIER_COUNT = 2", "NONHIER_COUNT = two", "not a number"),
        ("[GENERAL]", "[GENERAL]\nthis line is junk", "not a key = value"),
    ],
)
def test_broken_slidedat(mrxs: Path, work: Path, old: str, new: str, match: str) -> None:
    ini = mrxs.with_suffix("") / "Slidedat.ini"
    ini.write_bytes(ini.read_bytes().replace(old.encode(), new.encode(), 1))
    _refused(mrxs, work.parent / "out" / "a.mrxs", match)


def test_truncated_data_and_index(mrxs: Path, work: Path) -> None:
    data = mrxs.with_suffix("") / "Data0000.dat"
    full = data.read_bytes()
    data.write_bytes(full[: len(full) // 2])
    _refused(mrxs, work.parent / "out" / "a.mrxs", "points outside its data file")
    data.write_bytes(full)
    index = mrxs.with_suffix("") / "Index.dat"
    index.write_bytes(index.read_bytes()[:60])
    _refused(mrxs, work.parent / "out" / "a.mrxs", "Index.dat")


def test_output_refusals(mrxs: Path, work: Path) -> None:
    out = work.parent / "out"
    _refused(mrxs, mrxs, "over its input")
    _refused(mrxs, out / "a.svs", "extension")
    _refused(mrxs, mrxs.with_suffix("") / "inner.mrxs", "inside the input folder")
    (out / "taken").mkdir()
    _refused(mrxs, out / "taken.mrxs", "already exists")
    upper = mrxs.with_name("SLIDE.MRXS")
    mrxs.rename(upper)
    mrxs.with_suffix("").rename(upper.with_suffix(""))
    _refused(upper, out / "b.mrxs", "lower-case")


def test_verification_catches_a_leak(mrxs: Path, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the rewrite lets an identifier through, verification refuses to publish the copy."""
    import app.deid.mrxs as m

    monkeypatch.setattr(m, "GENERAL_KEEP", m.GENERAL_KEEP | {"OPERATOR_NAME"})
    _refused(mrxs, work.parent / "out" / "case-0041.mrxs", "verification")
    monkeypatch.undo()
    monkeypatch.setattr(m, "NONHIER_KEEP", m.NONHIER_KEEP | {"Scan data layer"})
    _refused(mrxs, work.parent / "out" / "case-0042.mrxs", "no label or macro image")
