"""Minimal TIFF structure reader/rewriter that never touches compressed pixel data.

We rewrite only the metadata: kept IFDs are re-written at the end of the file with a filtered set of
tags, the header and next-IFD pointers are relinked, and every byte of the old metadata (and of dropped
images) is overwritten with zeros. Strip and tile bytes of kept images stay exactly where they were, so
the pyramid is byte-identical and nothing is recompressed. Handles classic TIFF, BigTIFF and the
Hamamatsu NDPI variant (classic TIFF with an 8-byte next pointer and high-offset words, below 4 GiB).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from app.deid.errors import DeidError

TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
UINT_FORMATS = {1: "B", 3: "H", 4: "I", 13: "I", 16: "Q", 18: "Q"}
ASCII, UNDEFINED = 2, 7
NDPI_FORMAT_FLAG = 65420
MAX_IFDS = 10_000
CLASSIC_LIMIT = 2**32

# (offsets tag, byte-counts tag) pairs that locate image data.
DATA_TAGS = ((324, 325), (273, 279), (513, 514))


@dataclass(frozen=True)
class Entry:
    """One IFD entry with its value bytes resolved (in file byte order)."""

    tag: int
    type: int
    count: int
    value: bytes
    value_offset: int | None  # None when the value was stored inline


@dataclass
class Ifd:
    index: int
    offset: int
    size: int  # bytes of the IFD structure itself, including NDPI extras
    entries: dict[int, Entry] = field(default_factory=dict)


@dataclass
class Layout:
    byteorder: str  # "<" or ">"
    bigtiff: bool
    ndpi: bool
    file_size: int
    ifds: list[Ifd]

    def uints(self, entry: Entry) -> list[int]:
        """Decode an unsigned-integer entry (offsets, counts, sizes)."""
        fmt = UINT_FORMATS.get(entry.type)
        if fmt is None:
            raise DeidError(f"TIFF tag {entry.tag} has unexpected type {entry.type}")
        return list(struct.unpack(f"{self.byteorder}{entry.count}{fmt}", entry.value))

    def text(self, entry: Entry) -> str:
        """Decode an ASCII/UNDEFINED entry as text (latin-1 so no byte is lost)."""
        return entry.value.split(b"\0", 1)[0].decode("latin-1")

    def data_ranges(self, ifd: Ifd) -> list[tuple[int, int]]:
        """[start, end) byte ranges of the strips/tiles of one image."""
        for off_tag, cnt_tag in DATA_TAGS:
            if off_tag in ifd.entries and cnt_tag in ifd.entries:
                offs = self.uints(ifd.entries[off_tag])
                cnts = self.uints(ifd.entries[cnt_tag])
                return [(o, o + c) for o, c in zip(offs, cnts, strict=False) if c > 0]
        return []


def _read_exact(f: BinaryIO, offset: int, size: int, file_size: int) -> bytes:
    if offset < 0 or size < 0 or offset + size > file_size:
        raise DeidError("corrupt TIFF: a structure points outside the file")
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise DeidError("corrupt TIFF: short read")
    return data


def parse(f: BinaryIO) -> Layout:
    """Read the header and the whole IFD chain; raise DeidError on anything malformed."""
    f.seek(0, os.SEEK_END)
    file_size = f.tell()
    head = _read_exact(f, 0, 8, file_size) if file_size >= 8 else b""
    if head[:2] == b"II":
        bo = "<"
    elif head[:2] == b"MM":
        bo = ">"
    else:
        raise DeidError("not a TIFF file (bad byte-order mark)")
    version = struct.unpack(f"{bo}H", head[2:4])[0]
    if version == 42:
        bigtiff = False
        first = struct.unpack(f"{bo}I", head[4:8])[0]
    elif version == 43:
        bigtiff = True
        first = struct.unpack(f"{bo}Q", _read_exact(f, 8, 8, file_size))[0]
    else:
        raise DeidError(f"not a TIFF file (version {version})")

    cnt_fmt, cnt_size = ("Q", 8) if bigtiff else ("H", 2)
    entry_size = 20 if bigtiff else 12
    inline = 8 if bigtiff else 4
    off_fmt = "Q" if bigtiff else "I"
    ifds: list[Ifd] = []
    seen: set[int] = set()
    ndpi = False
    offset = first
    while offset:
        if offset in seen or len(ifds) >= MAX_IFDS:
            raise DeidError("corrupt TIFF: IFD chain loops")
        seen.add(offset)
        n = struct.unpack(f"{bo}{cnt_fmt}", _read_exact(f, offset, cnt_size, file_size))[0]
        raw = _read_exact(f, offset + cnt_size, n * entry_size, file_size)
        ifd = Ifd(index=len(ifds), offset=offset, size=0)
        for i in range(n):
            e = raw[i * entry_size : (i + 1) * entry_size]
            if bigtiff:
                tag, typ, count = struct.unpack(f"{bo}HHQ", e[:12])
            else:
                tag, typ, count = struct.unpack(f"{bo}HHI", e[:8])
            size = TYPE_SIZES.get(typ)
            if size is None:
                continue  # unknown type: the entry is dropped by every policy anyway
            nbytes = size * count
            if nbytes <= inline:
                ifd.entries[tag] = Entry(tag, typ, count, e[entry_size - inline :][:nbytes], None)
            else:
                voff = struct.unpack(f"{bo}{off_fmt}", e[entry_size - inline :])[0]
                ifd.entries[tag] = Entry(tag, typ, count, _read_exact(f, voff, nbytes, file_size), voff)
        if not ifds and NDPI_FORMAT_FLAG in ifd.entries and not bigtiff:
            ndpi = True
            if file_size >= CLASSIC_LIMIT:
                raise DeidError("NDPI files of 4 GiB or more are not supported yet")
        next_pos = offset + cnt_size + n * entry_size
        ptr_size = 8 if bigtiff else 4
        ifd.size = cnt_size + n * entry_size + ptr_size + (4 + 4 * n if ndpi else 0)
        offset = struct.unpack(f"{bo}{off_fmt}", _read_exact(f, next_pos, ptr_size, file_size))[0]
        ifds.append(ifd)
    if not ifds:
        raise DeidError("corrupt TIFF: no image directories")
    return Layout(byteorder=bo, bigtiff=bigtiff, ndpi=ndpi, file_size=file_size, ifds=ifds)


def ascii_entry(tag: int, text: str) -> Entry:
    """A new ASCII entry (NUL-terminated)."""
    value = text.encode("latin-1", errors="replace") + b"\0"
    return Entry(tag, ASCII, len(value), value, None)


def _subtract(ranges: Iterable[tuple[int, int]], protected: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Parts of `ranges` that do not overlap any protected range."""
    out: list[tuple[int, int]] = []
    prot = sorted(protected)
    for start, end in sorted(ranges):
        cur = start
        for ps, pe in prot:
            if pe <= cur or ps >= end:
                continue
            if ps > cur:
                out.append((cur, ps))
            cur = max(cur, pe)
            if cur >= end:
                break
        if cur < end:
            out.append((cur, end))
    return out


def _zero(f: BinaryIO, ranges: list[tuple[int, int]]) -> int:
    total = 0
    chunk = b"\0" * (1 << 20)
    for start, end in ranges:
        f.seek(start)
        remaining = end - start
        while remaining > 0:
            k = min(remaining, len(chunk))
            f.write(chunk[:k])
            remaining -= k
        total += end - start
    return total


def rewrite(f: BinaryIO, layout: Layout, kept: list[tuple[Ifd, dict[int, Entry]]]) -> int:
    """Append new IFDs for `kept` (in order), relink the chain, zero all old metadata and dropped images.

    `f` is the working copy opened "r+b". Returns the number of bytes zeroed.
    """
    bo = layout.byteorder
    bigtiff = layout.bigtiff
    inline = 8 if bigtiff else 4
    off_fmt = "Q" if bigtiff else "I"
    kept_ids = {id(ifd) for ifd, _ in kept}

    protected = [r for ifd, _ in kept for r in layout.data_ranges(ifd)]
    doomed: list[tuple[int, int]] = []
    for ifd in layout.ifds:
        doomed.append((ifd.offset, ifd.offset + ifd.size))
        for e in ifd.entries.values():
            if e.value_offset is not None:
                doomed.append((e.value_offset, e.value_offset + len(e.value)))
        if id(ifd) not in kept_ids:
            doomed.extend(layout.data_ranges(ifd))

    f.seek(0, os.SEEK_END)
    pos = f.tell()
    ifd_offsets: list[int] = []
    next_ptr_positions: list[int] = []
    for _, entries in kept:
        # Values first, then the IFD: NDPI readers assume values sit below their directory.
        placed: dict[int, int] = {}
        for tag in sorted(entries):
            e = entries[tag]
            if len(e.value) > inline:
                pos += (-pos) % 8
                f.seek(pos)
                f.write(e.value)
                placed[tag] = pos
                pos += len(e.value)
        pos += (-pos) % 8
        ifd_offsets.append(pos)
        buf = bytearray(struct.pack(f"{bo}{'Q' if bigtiff else 'H'}", len(entries)))
        for tag in sorted(entries):
            e = entries[tag]
            head = struct.pack(f"{bo}HHQ" if bigtiff else f"{bo}HHI", tag, e.type, e.count)
            if tag in placed:
                val = struct.pack(f"{bo}{off_fmt}", placed[tag])
            else:
                val = e.value.ljust(inline, b"\0")
            buf += head + val
        next_ptr_positions.append(pos + len(buf))
        buf += b"\0" * (8 if bigtiff else 4)
        if layout.ndpi:
            buf += b"\0" * (4 + 4 * len(entries))  # high words of next pointer and values: all zero (<4 GiB)
        f.seek(pos)
        f.write(buf)
        pos += len(buf)
    if not bigtiff and pos >= CLASSIC_LIMIT:
        raise DeidError("the de-identified copy would exceed the 4 GiB limit of classic TIFF")

    # Relink: header -> first kept IFD -> ... -> 0.
    header_ptr = 8 if bigtiff else 4
    f.seek(header_ptr)
    f.write(struct.pack(f"{bo}{off_fmt}", ifd_offsets[0]))
    for i, ptr in enumerate(next_ptr_positions):
        f.seek(ptr)
        nxt = ifd_offsets[i + 1] if i + 1 < len(ifd_offsets) else 0
        f.write(struct.pack(f"{bo}{off_fmt}", nxt))

    zeroed = _zero(f, _subtract(doomed, protected))
    f.flush()
    os.fsync(f.fileno())
    return zeroed
