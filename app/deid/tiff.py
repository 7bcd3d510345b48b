"""De-identification policies for TIFF-based slides: Aperio SVS, Hamamatsu NDPI and generic tiled TIFF.

Tags are kept by allowlist (anything unknown, private or vendor-specific is dropped) because a
denylist silently lets through whatever a scanner vendor adds next year. Free-text tags that OpenSlide
needs (the Aperio ImageDescription, the NDPI property map) are kept but their fields are filtered.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from app.deid.certificate import Removal
from app.deid.errors import DeidError
from app.deid.tiffio import ASCII, Entry, Ifd, Layout, ascii_entry, parse, rewrite

# Baseline/extension tags that describe pixels and nothing about the patient or the lab.
STRUCTURAL_TAGS = {
    254, 255, 256, 257, 258, 259, 262, 266, 273, 274, 277, 278, 279, 280, 281, 282, 283, 284, 296,
    317, 318, 319, 320, 322, 323, 324, 325, 338, 339, 340, 341, 347, 513, 514, 529, 530, 531, 532,
    32997, 32998, 34675,
}  # fmt: skip
DESCRIPTIVE_TAGS = {270, 271, 272, 305}  # ImageDescription (filtered), Make, Model, Software
# NDPI private tags OpenSlide needs to read the slide (geometry, restart markers, optics).
NDPI_TAGS = {
    65324, 65325, 65420, 65421, 65422, 65423, 65424, 65425, 65426, 65432, 65434, 65435, 65436, 65437,
    65438, 65441, 65444, 65447, 65449, 65451, 65500,
}  # fmt: skip
NDPI_PROPERTY_MAP = 65449
NDPI_SOURCE_LENS = 65421
# Tags whose values are identifying; their values become verification needles.
IDENTIFYING_TAGS = {
    269: "DocumentName", 285: "PageName", 306: "DateTime", 315: "Artist", 316: "HostComputer",
    33432: "Copyright", 42016: "ImageUniqueID", 65427: "NDPI SlideLabel/Reference",
    65428: "NDPI AuthCode", 65442: "NDPI ScannerSerialNumber", 65468: "NDPI Barcode",
}  # fmt: skip
TAG_NAMES = {
    **IDENTIFYING_TAGS, 330: "SubIFDs", 700: "XMP", 33723: "IPTC", 34377: "Photoshop",
    34665: "ExifIFD", 34853: "GPSIFD", 37724: "ImageSourceData",
}  # fmt: skip

# Aperio ImageDescription fields that describe optics/geometry; everything else (Filename, Date,
# Time, User, ScanScope ID, ImageID, Barcode, Rack, Slot, DSR ID, ...) is removed.
APERIO_KEEP = {
    "AppMag", "MPP", "StripeWidth", "Left", "Top", "LineCameraSkew", "LineAreaXOffset",
    "LineAreaYOffset", "Focus Offset", "OriginalWidth", "OriginalHeight", "Originalheight", "Filtered",
    "Exposure Time", "Exposure Scale", "Gamma", "Parmset", "Display Color", "ICC Profile",
    "Series", "Compression Quality",
}  # fmt: skip
# NDPI property-map keys that identify the slide, the case, the operator or the instrument.
NDPI_DROP_KEY = re.compile(
    r"created|updated|date|s/n|serial|barcode|label|reference|user|operator|slide.?name|slide.?id|"
    r"file.?name|comment|author|patient|specimen|case",
    re.IGNORECASE,
)
MIN_NEEDLE = 4
TRIVIAL_VALUES = {"none", "null", "n/a", "unknown", "default"}


@dataclass
class TiffResult:
    removed: list[Removal] = field(default_factory=list)
    needles: set[str] = field(default_factory=set)


def _needle(result: TiffResult, value: str) -> None:
    value = value.strip()
    if len(value) >= MIN_NEEDLE and value.strip("- ").lower() not in TRIVIAL_VALUES:
        result.needles.add(value)


def _scrub_aperio_description(text: str, result: TiffResult, ifd_index: int) -> str:
    """Keep the first segment (OpenSlide needs "Aperio ..." and the geometry) and allowlisted fields."""
    parts = text.split("|")
    kept = [parts[0]]
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        key = key.strip()
        if sep and key in APERIO_KEEP:
            kept.append(part)
            continue
        _needle(result, value)
        name = f"aperio.{key}" if sep else "aperio description fragment"
        if not any(r.name == name for r in result.removed):
            result.removed.append(Removal(kind="property", name=name, detail=f"ImageDescription (IFD {ifd_index})"))
    return "|".join(kept)


def _scrub_ndpi_properties(text: str, result: TiffResult) -> str:
    """Filter `key=value` segments; separators are kept as found because some values nest `\r;k=v`."""
    tokens = re.split(r"(\r\n|\n|\r)", text)
    out: list[str] = []
    for i in range(0, len(tokens), 2):
        segment, sep = tokens[i], tokens[i + 1] if i + 1 < len(tokens) else ""
        key, eq, value = segment.lstrip(";").partition("=")
        if not segment or (eq and not NDPI_DROP_KEY.search(key)) or (not eq and not NDPI_DROP_KEY.search(segment)):
            out.append(segment + sep)
            continue
        _needle(result, value if eq else segment)
        name = f"hamamatsu.{key.strip()}"
        if not any(r.name == name for r in result.removed):
            result.removed.append(Removal(kind="property", name=name, detail="NDPI property map (tag 65449)"))
    return "".join(out)


def _is_tiled(ifd: Ifd) -> bool:
    return 322 in ifd.entries and 324 in ifd.entries


def _dims(layout: Layout, ifd: Ifd) -> str:
    try:
        w = layout.uints(ifd.entries[256])[0]
        h = layout.uints(ifd.entries[257])[0]
    except (KeyError, DeidError):
        return "unknown size"
    return f"{w}x{h}"


def _drop_reason(vendor: str, layout: Layout, ifd: Ifd, position: int) -> str | None:
    """Why this IFD is an associated image that must go (None: keep it)."""
    if vendor == "aperio":
        desc = layout.text(ifd.entries[270]).lower() if 270 in ifd.entries else ""
        if not _is_tiled(ifd):
            second = desc.split("\n", 1)[1] if "\n" in desc else ""
            if "label" in second or "macro" in second:
                return "label" if "label" in second else "macro"
            if position != 1:
                return "untiled image"  # only IFD 1 is the thumbnail; other untiled images are suspect
        return None
    if vendor == "hamamatsu":
        if NDPI_SOURCE_LENS in ifd.entries:
            entry = ifd.entries[NDPI_SOURCE_LENS]
            if entry.type == 11:
                lens = struct.unpack(f"{layout.byteorder}f", entry.value[:4])[0]
                if lens == -1:
                    return "macro"
                if lens <= 0:
                    return "map"
        return None
    # generic-tiff: OpenSlide reads only tiled IFDs; untiled ones are where labels hide.
    return None if _is_tiled(ifd) else "untiled image"


def _filter_entries(vendor: str, layout: Layout, ifd: Ifd, result: TiffResult) -> dict[int, Entry]:
    allowed = STRUCTURAL_TAGS | DESCRIPTIVE_TAGS | (NDPI_TAGS if vendor == "hamamatsu" else set())
    out: dict[int, Entry] = {}
    for tag, entry in ifd.entries.items():
        if tag not in allowed:
            if tag in IDENTIFYING_TAGS and entry.type in (ASCII, 7, 1):
                _needle(result, layout.text(entry))
            name = TAG_NAMES.get(tag, f"tag {tag}" + (" (private)" if tag >= 32768 else ""))
            if not any(r.kind == "tag" and r.name == name for r in result.removed):
                result.removed.append(Removal(kind="tag", name=name, detail=f"first seen in IFD {ifd.index}"))
            continue
        if tag == 270 and entry.type == ASCII:
            text = layout.text(entry)
            if vendor == "aperio":
                entry = ascii_entry(270, _scrub_aperio_description(text, result, ifd.index))
            elif text.strip():
                # Generic/NDPI descriptions are free text from unknown software: drop the content.
                _needle(result, text)
                entry = ascii_entry(270, "")
                if not any(r.name == "ImageDescription" for r in result.removed):
                    result.removed.append(Removal(kind="tag", name="ImageDescription", detail="free text cleared"))
        elif tag == NDPI_PROPERTY_MAP and vendor == "hamamatsu":
            text = entry.value.split(b"\0", 1)[0].decode("latin-1")
            value = ascii_entry(tag, _scrub_ndpi_properties(text, result)).value
            entry = Entry(tag, entry.type, len(value), value, None)
        out[tag] = entry
    return out


def deidentify_tiff(work: Path, vendor: str) -> TiffResult:
    """Rewrite `work` (a private copy) in place; return what was removed and the strings to hunt for."""
    result = TiffResult()
    with work.open("r+b") as f:
        layout = parse(f)
        kept: list[tuple[Ifd, dict[int, Entry]]] = []
        for position, ifd in enumerate(layout.ifds):
            reason = _drop_reason(vendor, layout, ifd, position)
            if reason is not None:
                result.removed.append(
                    Removal(
                        kind="associated_image",
                        name=reason,
                        detail=f"IFD {ifd.index}, {_dims(layout, ifd)}, pixels zeroed",
                    )
                )
                continue
            kept.append((ifd, _filter_entries(vendor, layout, ifd, result)))
        if not kept:
            raise DeidError("no image left after removing associated images")
        rewrite(f, layout, kept)
    return result
