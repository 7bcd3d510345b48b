"""A tiny synthetic 3DHISTECH MIRAX slide (.mrxs + folder) that OpenSlide 4 opens, with planted identifiers.

Layout (written from OpenSlide's MIRAX format description, https://openslide.org/formats/mirax/):

* ``<name>.mrxs``: only has to exist (OpenSlide reads the folder); ours carries identifying bytes, as
  vendor files may, so de-identification must not copy it.
* ``<name>/Slidedat.ini``: [GENERAL] (slide id/name/date, camera grid), [HIERARCHICAL] (zoom levels as
  HIER_0 "Slide zoom level"; NONHIER layers "Scan data layer" with the macro/label/preview photos and
  "VIMSLIDE_POSITION_BUFFER" with the camera positions), [DATAFILE], one section per level and per
  non-hierarchical value.
* ``<name>/Index.dat``: "01.02" + SLIDE_ID, then little-endian int32s: pointers to the hierarchical and
  non-hierarchical record tables; each record points to a linked list of data pages (the first page
  holds 0 items); hierarchical items are (image index, offset, length, file number), non-hierarchical
  items (0, 0, offset, length, file number).
* ``<name>/Data0000.dat``: the JPEG images and the position buffer, back to back.

The slide: 4x4 images of 256 px (2x2 camera photos, CameraImageDivisionsPerSide=2), three zoom levels
(1024, 512 and 256 px square), no overlap.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

IMAGES = 4  # images per side at level 0
DIVISIONS = 2  # images per camera photo, per side
TILE = 256  # DIGITIZER_WIDTH/HEIGHT
LEVELS = 3
SLIDE_ID = "5A8F3C2E9B7D4E1F8A6C0B3D2E4F6A81"

# Identifiers planted in the synthetic slide; none may survive de-identification.
SLIDE_NAME = "JOHN_DOE_123 renal bx"
CREATED = "02/01/2024 10:11:12"
BARCODE = "BARCODE-4711"
PLANTED = (
    "JOHN_DOE_123",
    SLIDE_ID,
    CREATED,
    "10:11:12",
    BARCODE,
    "dr-tanaka",
    "SS-4711",
    "St Elsewhere",
)


@dataclass
class _Data:
    """Data0000.dat under construction: blobs appended, (offset, length) returned."""

    buf: bytearray = field(default_factory=bytearray)

    def add(self, blob: bytes) -> tuple[int, int]:
        off = len(self.buf)
        self.buf += blob
        return off, len(blob)


def base_pixels(seed: int = 11) -> np.ndarray:
    """Level-0 RGB content: smooth gradients plus mild noise (small JPEGs, but every tile distinct)."""
    n = IMAGES * TILE
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n]
    img = np.empty((n, n, 3), dtype=np.float64)
    img[..., 0] = 128 + 100 * np.sin(x / 53.0)
    img[..., 1] = 128 + 100 * np.cos(y / 37.0)
    img[..., 2] = (x + y) * 255.0 / (2 * n)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _jpeg(arr: np.ndarray | Image.Image, *, comment: str | None = None) -> bytes:
    im = arr if isinstance(arr, Image.Image) else Image.fromarray(arr)
    out = io.BytesIO()
    kw = {"comment": comment.encode()} if comment else {}
    im.convert("RGB").save(out, "JPEG", quality=90, **kw)
    return out.getvalue()


def _text_image(size: tuple[int, int], lines: list[str], bg: str) -> Image.Image:
    im = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(im)
    for i, line in enumerate(lines):
        d.text((10, 10 + 18 * i), line, fill="black")
    return im


def _level_images(base: np.ndarray) -> list[list[tuple[int, bytes]]]:
    """Per level: (image index in level-0 image grid, JPEG) of every stored image."""
    levels = []
    for level in range(LEVELS):
        concat = 1 << level
        imgs = []
        for y in range(0, IMAGES, concat):
            for x in range(0, IMAGES, concat):
                region = base[y * TILE : (y + concat) * TILE, x * TILE : (x + concat) * TILE]
                small = (
                    region
                    if concat == 1
                    else np.asarray(Image.fromarray(region).resize((TILE, TILE), Image.Resampling.BOX))
                )
                imgs.append((y * IMAGES + x, _jpeg(small)))
        levels.append(imgs)
    return levels


def _i32(*vals: int) -> bytes:
    return struct.pack(f"<{len(vals)}i", *vals)


def build_index(
    slide_id: str, hier: list[list[tuple[int, int, int, int]]], nonhier: list[tuple[int, int, int]]
) -> bytes:
    """Index.dat: header, two root pointers, two record tables, then one (empty head page → data page)
    list per record. `hier` items: (image index, offset, length, file); `nonhier`: (offset, length, file)."""
    head = b"01.02" + slide_id.encode("ascii")
    pos = len(head) + 8
    hier_table, pos = pos, pos + 4 * len(hier)
    nonhier_table, pos = pos, pos + 4 * len(nonhier)
    tables = bytearray()
    body = bytearray()
    for items in hier:
        tables += _i32(pos)
        page = pos + 8
        body += _i32(0, page) + _i32(len(items), 0)
        for item in items:
            body += _i32(*item)
        pos += 16 + 16 * len(items)
    for off, length, fileno in nonhier:
        tables += _i32(pos)
        body += _i32(0, pos + 8) + _i32(1, 0, 0, 0, off, length, fileno)
        pos += 8 + 28
    return head + _i32(hier_table, nonhier_table) + bytes(tables) + bytes(body)


def make_mrxs(
    folder: Path, name: str = "JOHN_DOE_123", *, seed: int = 11, label_shares_tile: bool = False
) -> Path:
    """Write `<folder>/<name>.mrxs` and `<folder>/<name>/`; return the .mrxs path.

    `label_shares_tile`: index the label as the first level-0 tile's bytes (OpenSlide still opens it,
    but the label cannot be zeroed without damaging the pyramid)."""
    data_dir = folder / name
    data_dir.mkdir(parents=True)
    data = _Data()
    data.add(b"\0" * 64)  # unreferenced header space, as in vendor files

    hier: list[list[tuple[int, int, int, int]]] = []
    for imgs in _level_images(base_pixels(seed)):
        items = []
        for index, blob in imgs:
            off, length = data.add(blob)
            items.append((index, off, length, 0))
        hier.append(items)

    macro = _text_image((600, 200), ["MACRO " + SLIDE_NAME, BARCODE], "lightgrey")
    label = _text_image((300, 120), [SLIDE_NAME, BARCODE, CREATED], "white")
    preview = Image.fromarray(np.asarray(Image.fromarray(base_pixels(seed)).resize((128, 128))))
    nonhier = [
        data.add(_jpeg(macro, comment=f"macro {SLIDE_NAME}")),
        data.add(_jpeg(label, comment=f"label {SLIDE_NAME} {BARCODE}")),
        data.add(_jpeg(preview)),
    ]
    photos = IMAGES // DIVISIONS
    positions = b"".join(
        struct.pack("<bii", 1, px * DIVISIONS * TILE, py * DIVISIONS * TILE)
        for py in range(photos)
        for px in range(photos)
    )
    nonhier.append(data.add(positions))
    if label_shares_tile:
        nonhier[1] = hier[0][0][1:3]
    nonhier_items = [(off, length, 0) for off, length in nonhier]
    (data_dir / "Data0000.dat").write_bytes(bytes(data.buf))
    (data_dir / "Index.dat").write_bytes(build_index(SLIDE_ID, hier, nonhier_items))
    (data_dir / "Slidedat.ini").write_bytes(b"\xef\xbb\xbf" + slidedat().replace("\n", "\r\n").encode())
    (data_dir / "Notes.txt").write_text(f"scanned for {SLIDE_NAME} by dr-tanaka\n")  # a stray vendor file
    mrxs = folder / f"{name}.mrxs"
    mrxs.write_bytes(f"MIRAX {SLIDE_NAME}\0".encode())
    return mrxs


def slidedat() -> str:
    levels = "".join(
        f"HIER_0_VAL_{i} = ZoomLevel_{i}\nHIER_0_VAL_{i}_SECTION = LAYER_0_LEVEL_{i}_SECTION\n"
        for i in range(LEVELS)
    )
    sections = "".join(
        f"\n[LAYER_0_LEVEL_{i}_SECTION]\n"
        f"IMAGE_CONCAT_FACTOR = {0 if i == 0 else 1}\n"
        "OVERLAP_X = 0\nOVERLAP_Y = 0\n"
        f"MICROMETER_PER_PIXEL_X = {0.25 * (1 << i)}\nMICROMETER_PER_PIXEL_Y = {0.25 * (1 << i)}\n"
        "IMAGE_FILL_COLOR_BGR = 16777215\n"
        f"DIGITIZER_WIDTH = {TILE}\nDIGITIZER_HEIGHT = {TILE}\n"
        "IMAGE_FORMAT = JPEG\nIMAGE_QUALITY = 90\n"
        for i in range(LEVELS)
    )
    return f"""# slide of {SLIDE_NAME}
[GENERAL]
SLIDE_VERSION = 01.03
CURRENT_SLIDE_VERSION = 1.12
SLIDE_NAME = {SLIDE_NAME}
SLIDE_ID = {SLIDE_ID}
SLIDE_TYPE = Brightfield
SLIDE_CREATIONDATETIME = {CREATED}
SLIDE_UTC_CREATIONDATETIME = 2024-01-02T09:11:12Z
SLIDE_BARCODE = {BARCODE}
PROJECT_NAME = St Elsewhere nephrology
OPERATOR_NAME = dr-tanaka
SCANNER_HARDWARE_ID = SS-4711
SCANNER_HARDWARE_VERSION = Pannoramic 250
SCANNER_SOFTWARE_VERSION = 2.0
IMAGENUMBER_X = {IMAGES}
IMAGENUMBER_Y = {IMAGES}
OBJECTIVE_MAGNIFICATION = 40
OBJECTIVE_NAME = Plan-Apochromat
CameraImageDivisionsPerSide = {DIVISIONS}

[HIERARCHICAL]
HIER_COUNT = 1
HIER_0_NAME = Slide zoom level
HIER_0_COUNT = {LEVELS}
{levels}NONHIER_COUNT = 2
NONHIER_0_NAME = Scan data layer
NONHIER_0_COUNT = 3
NONHIER_0_VAL_0 = ScanDataLayer_SlideThumbnail
NONHIER_0_VAL_0_SECTION = NONHIERLAYER_0_LEVEL_0_SECTION
NONHIER_0_VAL_1 = ScanDataLayer_SlideBarcode
NONHIER_0_VAL_1_SECTION = NONHIERLAYER_0_LEVEL_1_SECTION
NONHIER_0_VAL_2 = ScanDataLayer_SlidePreview
NONHIER_0_VAL_2_SECTION = NONHIERLAYER_0_LEVEL_2_SECTION
NONHIER_1_NAME = VIMSLIDE_POSITION_BUFFER
NONHIER_1_COUNT = 1
NONHIER_1_VAL_0 = default
NONHIER_1_VAL_0_SECTION = NONHIERLAYER_1_LEVEL_0_SECTION
INDEXFILE = Index.dat

[DATAFILE]
FILE_COUNT = 1
FILE_0 = Data0000.dat
{sections}
[NONHIERLAYER_0_LEVEL_0_SECTION]
THUMBNAIL_IMAGE_TYPE = JPEG
THUMBNAIL_COMMENT = macro of {SLIDE_NAME}

[NONHIERLAYER_0_LEVEL_1_SECTION]
BARCODE_IMAGE_TYPE = JPEG
BARCODE_VALUE = {BARCODE}
BARCODE_TYPE = Code128

[NONHIERLAYER_0_LEVEL_2_SECTION]
PREVIEW_IMAGE_TYPE = JPEG

[NONHIERLAYER_1_LEVEL_0_SECTION]
VIMSLIDE_POSITION_DATA_FORMAT_VERSION = 257

[SCANNER_SETTINGS]
LAST_USER = dr-tanaka
SITE = St Elsewhere
"""
