"""MIRAX (.mrxs) de-identification: a 3DHISTECH slide is an .mrxs file plus a same-named data folder.

The folder holds `Slidedat.ini` (metadata and layout), `Index.dat` (where every stored image lives) and
the `Data*.dat` files (JPEG/PNG/BMP images back to back). See https://openslide.org/formats/mirax/.

The de-identified copy is rebuilt, not patched, and keeps only what OpenSlide needs to read the pyramid:

* `Slidedat.ini`: [GENERAL] is reduced to an allowlist of technical keys; SLIDE_NAME becomes the
  pseudonym and SLIDE_ID a value derived from it. [HIERARCHICAL] keeps every hierarchical layer (the
  zoom levels) and, of the non-hierarchical layers, only the camera position/stitching buffers: the
  "Scan data layer" photos (slide label/barcode, macro photo, preview) and any other non-hierarchical
  data are dropped with their sections. Sections nobody references, and all comments, are dropped.
* `Index.dat` is written afresh (version + new SLIDE_ID, record tables, one data page per record).
* `Data*.dat` are copied with the byte offsets of every kept image unchanged (pyramid tiles are
  byte-identical); every byte no kept record references (the label and macro JPEGs, file headers,
  slack) is zeroed. Files are renamed `Data0000.dat`, ... and anything else in the folder is left out.
* The `.mrxs` file is written empty (OpenSlide only needs it to exist).

The copy is built in a hidden temporary folder beside the destination, verified by re-opening it with
OpenSlide, and only then moved into place (data folder first, the `.mrxs` last).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from app.deid.certificate import Certificate, Removal, RemovalKind
from app.deid.errors import DeidError
from app.deid.verify import ensure_verified, scan_raw, verify_slide

SLIDEDAT = "Slidedat.ini"
SLIDEDAT_MAX = 1 << 20  # OpenSlide's own limit
INDEX_VERSION = b"01.02"
INDEX_MAX = 256 << 20
MAX_PAGES = 1 << 20
COPY_CHUNK = 1 << 20
MIN_NAME_NEEDLE = 6
MIN_VALUE_NEEDLE = 6

# [GENERAL] keys that describe the scan technically and are kept; everything else there is removed.
GENERAL_KEEP = frozenset({
    "SLIDE_VERSION", "CURRENT_SLIDE_VERSION", "SLIDE_TYPE", "IMAGENUMBER_X", "IMAGENUMBER_Y",
    "OBJECTIVE_MAGNIFICATION", "OBJECTIVE_NAME", "MICROSCOPE_TYPE", "CAMERA_TYPE",
    "CameraImageDivisionsPerSide", "SCANNER_HARDWARE_VERSION", "SCANNER_SOFTWARE_VERSION",
})  # fmt: skip
GENERAL_PSEUDONYMISE = ("SLIDE_ID", "SLIDE_NAME")
# Non-hierarchical layers OpenSlide needs to place the tiles; every other one is dropped.
NONHIER_KEEP = frozenset({"VIMSLIDE_POSITION_BUFFER", "StitchingIntensityLayer"})
# "Scan data layer" values OpenSlide shows as associated images.
ASSOCIATED = {
    "ScanDataLayer_SlideBarcode": "label",
    "ScanDataLayer_SlideThumbnail": "macro",
    "ScanDataLayer_SlidePreview": "thumbnail",
}
SAFE_NAME = re.compile(r"^[A-Za-z0-9_ .-]{1,64}$")
HIER_KEY = re.compile(r"^HIER_(COUNT|\d+_(NAME|COUNT|VAL_\d+(_SECTION)?))$")
NONHIER_KEY = re.compile(r"^NONHIER_(\d+)_(NAME|COUNT|VAL_(\d+)(.*))$")
NUMBERISH = re.compile(r"^[\d.+-]*$")


# -- Slidedat.ini -------------------------------------------------------------------------------------
@dataclass
class Ini:
    """Sections in file order, each a list of (key, value); comments dropped. `bom`/`crlf`: the style."""

    sections: dict[str, list[tuple[str, str]]]
    bom: bool
    crlf: bool

    def get(self, section: str, key: str) -> str | None:
        """The last value of `key`, as GKeyFile would return it."""
        found = None
        for k, v in self.sections.get(section, []):
            if k == key:
                found = v
        return found

    def need(self, section: str, key: str) -> str:
        v = self.get(section, key)
        if v is None:
            raise DeidError(f"unexpected MRXS structure: {SLIDEDAT} has no {key} in [{section}]")
        return v

    def need_int(self, section: str, key: str, *, minimum: int = 0) -> int:
        v = self.need(section, key)
        try:
            n = int(v)
        except ValueError:
            raise DeidError(f"unexpected MRXS structure: {key} is not a number") from None
        if n < minimum:
            raise DeidError(f"unexpected MRXS structure: {key} is {n}")
        return n

    def render(self) -> bytes:
        nl = "\r\n" if self.crlf else "\n"
        parts = []
        for name, items in self.sections.items():
            parts.append(f"[{name}]")
            parts += [f"{k} = {v}" for k, v in items]
            parts.append("")
        text = nl.join(parts)
        return (b"\xef\xbb\xbf" if self.bom else b"") + text.encode("utf-8")


def parse_ini(raw: bytes) -> Ini:
    bom = raw.startswith(b"\xef\xbb\xbf")
    if bom:
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(("#", ";")):
            continue
        if s.startswith("[") and s.endswith("]"):
            current = sections.setdefault(s[1:-1].strip(), [])
            continue
        if current is None or "=" not in s:
            raise DeidError(
                f"unexpected MRXS structure: {SLIDEDAT} has a line that is not a key = value pair"
            )
        key, _, value = s.partition("=")
        current.append((key.strip(), value.strip()))
    return Ini(sections=sections, bom=bom, crlf="\r\n" in text)


# -- Index.dat ---------------------------------------------------------------------------------------
@dataclass
class NonhierVal:
    layer: str
    value: str
    keys: list[tuple[str, str]]  # (suffix after NONHIER_i_VAL_j, value), e.g. ("", name), ("_SECTION", sect)
    items: list[tuple[int, ...]] = field(default_factory=list)  # (a, b, offset, length, fileno)


class _Index:
    def __init__(self, data: bytes) -> None:
        self.b = data

    def i32(self, pos: int) -> int:
        if pos < 0 or pos + 4 > len(self.b):
            raise DeidError("unexpected MRXS structure: Index.dat pointer out of range")
        return int(struct.unpack_from("<i", self.b, pos)[0])

    def ints(self, pos: int, n: int) -> tuple[int, ...]:
        if pos < 0 or pos + 4 * n > len(self.b):
            raise DeidError("unexpected MRXS structure: Index.dat record out of range")
        return tuple(struct.unpack_from(f"<{n}i", self.b, pos))

    def hier_items(self, record: int) -> list[tuple[int, ...]]:
        """A linked list of pages [count, next, (image, offset, length, file) * count]; the first is empty."""
        items: list[tuple[int, ...]] = []
        if self.i32(record) != 0:
            raise DeidError("unexpected MRXS structure: Index.dat record does not start with an empty page")
        page, seen = record, set[int]()
        while page:
            if page in seen or len(seen) > MAX_PAGES:
                raise DeidError("unexpected MRXS structure: Index.dat page list loops")
            seen.add(page)
            count, nxt = self.i32(page), self.i32(page + 4)
            if count < 0 or 8 + 16 * count > len(self.b) - page:
                raise DeidError("unexpected MRXS structure: Index.dat page size out of range")
            items += [self.ints(page + 8 + 16 * k, 4) for k in range(count)]
            page = nxt
        return items

    def nonhier_items(self, record: int) -> list[tuple[int, ...]]:
        """An empty head page, then one page [1, ?, (0, 0, offset, length, file)] (OpenSlide's reading).
        A null record pointer means the value has no data."""
        if record == 0:
            return []
        if self.i32(record) != 0:
            raise DeidError("unexpected MRXS structure: Index.dat record does not start with an empty page")
        page = self.i32(record + 4)
        if page == 0:
            return []
        count = self.i32(page)
        if count == 0:
            return []
        if count != 1:
            raise DeidError(f"unexpected MRXS structure: non-hierarchical record with {count} items")
        return [self.ints(page + 8, 5)]


def _i32(*vals: int) -> bytes:
    return struct.pack(f"<{len(vals)}i", *vals)


def build_index(
    slide_id: str, hier: list[list[tuple[int, ...]] | None], nonhier: list[list[tuple[int, ...]]]
) -> bytes:
    head = INDEX_VERSION + slide_id.encode("ascii")
    pos = len(head) + 8
    hier_table, pos = pos, pos + 4 * len(hier)
    nonhier_table, pos = pos, pos + 4 * len(nonhier)
    tables, body = bytearray(), bytearray()
    for hitems in hier:
        if hitems is None:  # the original had no list for this value
            tables += _i32(0)
            continue
        tables += _i32(pos)
        body += _i32(0, pos + 8) + _i32(len(hitems), 0)
        for item in hitems:
            body += _i32(*item)
        pos += 16 + 16 * len(hitems)
    for nitems in nonhier:
        tables += _i32(pos)
        body += _i32(0, pos + 8) + _i32(len(nitems), 0)
        for item in nitems:
            body += _i32(*item)
        pos += 16 + 20 * len(nitems)
    return head + _i32(hier_table, nonhier_table) + bytes(tables) + bytes(body)


# -- the rewrite -------------------------------------------------------------------------------------
@dataclass
class MrxsResult:
    removed: list[Removal] = field(default_factory=list)
    needles: set[str] = field(default_factory=set)
    metadata_text: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def note(self, kind: RemovalKind, name: str, detail: str = "") -> None:
        self.removed.append(Removal(kind=kind, name=name, detail=detail))

    def needle(self, value: str) -> None:
        v = value.strip()
        if len(v) >= MIN_VALUE_NEEDLE and not NUMBERISH.match(v):
            self.needles.add(v)


def data_folder(src: Path) -> Path:
    return src.parent / src.name[: -len(".mrxs")]


def pseudonymous_slide_id(pseudonym: str) -> str:
    return hashlib.sha256(b"glomcheck mrxs slide id\0" + pseudonym.encode()).hexdigest()[:32].upper()


def _safe(name: str) -> str:
    return name if SAFE_NAME.match(name) else "(unnamed)"


def _nonhier_vals(ini: Ini) -> list[NonhierVal]:
    count = ini.need_int("HIERARCHICAL", "NONHIER_COUNT")
    vals: list[NonhierVal] = []
    extra: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for k, v in ini.sections["HIERARCHICAL"]:
        m = NONHIER_KEY.match(k)
        if m and m.group(3) is not None:
            extra.setdefault((int(m.group(1)), int(m.group(3))), []).append((m.group(4), v))
    for i in range(count):
        layer = ini.need("HIERARCHICAL", f"NONHIER_{i}_NAME")
        n = ini.need_int("HIERARCHICAL", f"NONHIER_{i}_COUNT")
        for j in range(n):
            value = ini.need("HIERARCHICAL", f"NONHIER_{i}_VAL_{j}")
            vals.append(NonhierVal(layer=layer, value=value, keys=extra.get((i, j), [])))
    return vals


def _hier_sections(ini: Ini) -> tuple[int, set[str]]:
    total, sections = 0, set()
    for i in range(ini.need_int("HIERARCHICAL", "HIER_COUNT", minimum=1)):
        n = ini.need_int("HIERARCHICAL", f"HIER_{i}_COUNT")
        total += n
        for j in range(n):
            s = ini.get("HIERARCHICAL", f"HIER_{i}_VAL_{j}_SECTION")
            if s:
                sections.add(s)
    return total, sections


def _rewrite_general(ini: Ini, pseudonym: str, new_id: str, res: MrxsResult) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in ini.sections["GENERAL"]:
        if k == "SLIDE_ID":
            res.needle(v)
            out.append((k, new_id))
        elif k == "SLIDE_NAME":
            res.needle(v)
            out.append((k, pseudonym))
        elif k in GENERAL_KEEP:
            out.append((k, v))
        else:
            res.needle(v)
            res.note("property", f"mirax.GENERAL.{_safe(k)}")
    if "SLIDE_NAME" not in {k for k, _ in out}:
        out.insert(0, ("SLIDE_NAME", pseudonym))
    return out


def _rewrite_hierarchical(ini: Ini, kept: list[NonhierVal], res: MrxsResult) -> list[tuple[str, str]]:
    out = [(k, v) for k, v in ini.sections["HIERARCHICAL"] if HIER_KEY.match(k)]
    layers: dict[str, list[NonhierVal]] = {}
    for val in kept:
        layers.setdefault(val.layer, []).append(val)
    out.append(("NONHIER_COUNT", str(len(layers))))
    for i, (layer, vals) in enumerate(layers.items()):
        out += [(f"NONHIER_{i}_NAME", layer), (f"NONHIER_{i}_COUNT", str(len(vals)))]
        for j, val in enumerate(vals):
            out += [(f"NONHIER_{i}_VAL_{j}{suffix}", v) for suffix, v in val.keys]
    out.append(("INDEXFILE", "Index.dat"))
    dropped = [
        k
        for k, _ in ini.sections["HIERARCHICAL"]
        if not HIER_KEY.match(k) and not NONHIER_KEY.match(k) and k not in ("NONHIER_COUNT", "INDEXFILE")
    ]
    for k in dropped:
        res.note("property", f"mirax.HIERARCHICAL.{_safe(k)}")
        res.needle(ini.get("HIERARCHICAL", k) or "")
    return out


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _copy_keeping(src: Path, dst: Path, keep: list[tuple[int, int]]) -> int:
    """Copy `src` to `dst` byte for byte inside the `keep` ranges and as zeros elsewhere; bytes zeroed."""
    size = src.stat().st_size
    zeroed, pos = 0, 0
    zeros = bytes(COPY_CHUNK)
    with src.open("rb") as f, dst.open("wb") as g:
        for a, b in [*keep, (size, size)]:
            while pos < a:
                n = min(COPY_CHUNK, a - pos)
                g.write(zeros[:n])
                zeroed += n
                pos += n
            f.seek(a)
            while pos < b:
                chunk = f.read(min(COPY_CHUNK, b - pos))
                if not chunk:
                    raise DeidError("unexpected MRXS structure: a data file is shorter than its index says")
                g.write(chunk)
                pos += len(chunk)
        g.flush()
        os.fsync(g.fileno())
    return zeroed


def rewrite(src: Path, out_dir: Path, out_mrxs: Path, *, pseudonym: str) -> MrxsResult:
    """Write the de-identified slide to `out_mrxs` + `out_dir` (both new) and say what was removed."""
    res = MrxsResult()
    folder = data_folder(src)
    slidedat = folder / SLIDEDAT
    if not slidedat.is_file():
        raise DeidError(f"unexpected MRXS structure: the data folder has no {SLIDEDAT}")
    if slidedat.stat().st_size > SLIDEDAT_MAX:
        raise DeidError(f"unexpected MRXS structure: {SLIDEDAT} is larger than 1 MiB")
    ini = parse_ini(slidedat.read_bytes())
    for section in ("GENERAL", "HIERARCHICAL", "DATAFILE"):
        if section not in ini.sections:
            raise DeidError(f"unexpected MRXS structure: {SLIDEDAT} has no [{section}] section")
    old_id = ini.need("GENERAL", "SLIDE_ID")
    new_id = pseudonymous_slide_id(pseudonym)

    # data files, in FILE_i order (the index refers to them by number)
    datafiles: list[Path] = []
    for i in range(ini.need_int("DATAFILE", "FILE_COUNT", minimum=1)):
        name = ini.need("DATAFILE", f"FILE_{i}")
        if name in (".", "..") or "/" in name or "\\" in name or not (folder / name).is_file():
            raise DeidError(f"unexpected MRXS structure: data file {i} listed in {SLIDEDAT} is missing")
        datafiles.append(folder / name)
    sizes = [p.stat().st_size for p in datafiles]

    # Index.dat
    index_name = ini.need("HIERARCHICAL", "INDEXFILE")
    index_path = folder / index_name
    if "/" in index_name or "\\" in index_name or not index_path.is_file():
        raise DeidError("unexpected MRXS structure: the index file named in Slidedat.ini is missing")
    if index_path.stat().st_size > INDEX_MAX:
        raise DeidError("unexpected MRXS structure: Index.dat is implausibly large")
    ix = _Index(index_path.read_bytes())
    header = INDEX_VERSION + old_id.encode("utf-8", "replace")
    if not ix.b.startswith(header):
        raise DeidError(
            "unexpected MRXS structure: Index.dat does not match the slide's version and SLIDE_ID"
        )
    hier_root, nonhier_root = ix.i32(len(header)), ix.i32(len(header) + 4)
    n_hier, level_sections = _hier_sections(ini)
    vals = _nonhier_vals(ini)

    def check(items: list[tuple[int, ...]], what: str) -> None:
        for it in items:
            off, length, fileno = it[-3:]
            if not 0 <= fileno < len(datafiles) or off < 0 or length < 0 or off + length > sizes[fileno]:
                raise DeidError(f"unexpected MRXS structure: {what} points outside its data file")

    hier: list[list[tuple[int, ...]] | None] = []
    for k in range(n_hier):
        ptr = ix.i32(hier_root + 4 * k)
        items = None if ptr == 0 else ix.hier_items(ptr)
        if items is not None:
            check(items, "a pyramid image")
            if any(it[0] < 0 for it in items):
                raise DeidError("unexpected MRXS structure: negative image index")
        hier.append(items)
    for k, val in enumerate(vals):
        val.items = ix.nonhier_items(ix.i32(nonhier_root + 4 * k))
        check(val.items, f"non-hierarchical record {k}")

    kept = [v for v in vals if v.layer in NONHIER_KEEP]
    dropped = [v for v in vals if v.layer not in NONHIER_KEEP]

    # which bytes of which data file survive
    keep_ranges: list[list[tuple[int, int]]] = [[] for _ in datafiles]
    for items in hier:
        for _, off, length, fileno in items or []:
            keep_ranges[fileno].append((off, off + length))
    for val in kept:
        for *_, off, length, fileno in val.items:
            keep_ranges[fileno].append((off, off + length))
    merged = [_merge(r) for r in keep_ranges]
    for val in dropped:
        for *_, off, length, fileno in val.items:
            if any(a < off + length and off < b for a, b in merged[fileno]):
                raise DeidError(
                    "unexpected MRXS structure: a label/macro image shares bytes with the pyramid"
                )

    # Slidedat.ini
    sections_needed = {"GENERAL", "HIERARCHICAL", "DATAFILE"} | level_sections
    sections_needed |= {v for val in kept for s, v in val.keys if s == "_SECTION"}
    missing = sorted(s for s in level_sections if s not in ini.sections)
    if missing:
        raise DeidError("unexpected MRXS structure: a zoom level section is missing from Slidedat.ini")
    out = Ini(sections={}, bom=ini.bom, crlf=ini.crlf)
    for name, pairs in ini.sections.items():
        if name == "GENERAL":
            out.sections[name] = _rewrite_general(ini, pseudonym, new_id, res)
        elif name == "HIERARCHICAL":
            out.sections[name] = _rewrite_hierarchical(ini, kept, res)
        elif name == "DATAFILE":
            out.sections[name] = [("FILE_COUNT", str(len(datafiles)))] + [
                (f"FILE_{i}", f"Data{i:04d}.dat") for i in range(len(datafiles))
            ]
        elif name in sections_needed:
            out.sections[name] = pairs
        else:
            res.note("property", f"mirax.{_safe(name)}.*", f"section with {len(pairs)} keys")
            for _, v in pairs:
                res.needle(v)

    for val in dropped:
        nbytes = sum(it[3] for it in val.items)
        if val.layer == "Scan data layer" and val.value in ASSOCIATED:
            res.note("associated_image", ASSOCIATED[val.value], f"{val.value}, {nbytes} bytes zeroed")
        else:
            res.note(
                "associated_image" if val.layer == "Scan data layer" else "file",
                f"non-hierarchical data {_safe(val.layer)}/{_safe(val.value)}",
                f"{nbytes} bytes zeroed",
            )

    # write the copy
    out_dir.mkdir()
    new_ini = out.render()
    (out_dir / SLIDEDAT).write_bytes(new_ini)
    res.metadata_text = new_ini.decode("utf-8", "replace").splitlines()
    (out_dir / "Index.dat").write_bytes(build_index(new_id, hier, [v.items for v in kept]))
    zeroed = 0
    for i, p in enumerate(datafiles):
        zeroed += _copy_keeping(p, out_dir / f"Data{i:04d}.dat", merged[i])
    if zeroed:
        res.note(
            "file", "unreferenced data-file bytes", f"{zeroed} bytes zeroed (label, macro, headers, slack)"
        )
    listed = {slidedat, index_path, *datafiles}
    extra = [p for p in folder.rglob("*") if p.is_file() and p not in listed]
    if extra:
        res.note("file", "unlisted files in the data folder", f"{len(extra)} files not copied")
    if src.stat().st_size:
        res.note("file", ".mrxs file contents", f"{src.stat().st_size} bytes not copied")
    out_mrxs.write_bytes(b"")
    res.files = [out_mrxs, *sorted(out_dir.iterdir())]
    for name in (src.name[: -len(".mrxs")], folder.name):
        if len(name) >= MIN_NAME_NEEDLE:
            res.needles.add(name)
    res.needles.discard(pseudonym)
    res.needles.discard(new_id)
    return res


# -- entry point ---------------------------------------------------------------------------------------
def _sha256(src: Path) -> str:
    from app.deid.service import sha256_path  # late: service imports this module

    return hashlib.sha256(f"{sha256_path(src)}\n{sha256_path(data_folder(src))}\n".encode()).hexdigest()


def _check_paths(src: Path, dst: Path) -> None:
    if not src.name.endswith(".mrxs"):
        raise DeidError("MRXS slides must end in lower-case '.mrxs' (OpenSlide does not open others)")
    folder = data_folder(src)
    if not folder.is_dir():
        raise DeidError(f"the MRXS slide needs its data folder '{folder.name}/' next to the .mrxs file")
    if dst.suffix != ".mrxs" or dst.name == ".mrxs":
        raise DeidError("output must keep the input's extension (.mrxs)")
    out_folder = data_folder(dst)
    s, d = folder.resolve(), dst.parent.resolve()
    if d == s or s in d.parents:
        raise DeidError("the output must not be inside the input folder")
    if out_folder.resolve() == s:
        raise DeidError("refusing to write the de-identified copy over its input")
    if out_folder.exists() or out_folder.is_symlink():
        raise DeidError(f"output folder '{out_folder.name}/' already exists; MRXS output must be new")
    if dst.is_dir():
        raise DeidError("output path is a folder")


def deidentify_mrxs(src: Path, dst: Path, *, pseudonym: str) -> Certificate:
    """De-identify `src` (.mrxs; its folder beside it) into `dst` (.mrxs) and its folder, atomically."""
    src, dst = Path(src), Path(dst)
    _check_paths(src, dst)
    sha_before = _sha256(src)
    tmp = dst.parent / f".{dst.stem}.deid-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        out_mrxs, out_dir = tmp / dst.name, tmp / data_folder(dst).name
        res = rewrite(src, out_dir, out_mrxs, pseudonym=pseudonym)
        checks = verify_slide(src, out_mrxs, needles=res.needles, metadata_text=res.metadata_text)
        checks.append(scan_raw(res.files, res.needles))
        ensure_verified(checks)
        cert = Certificate(
            format="mrxs",
            pseudonym=pseudonym,
            sha256_before=sha_before,
            sha256_after=_sha256(out_mrxs),
            removed=res.removed,
            verified=True,
            checks=checks,
        )
        os.replace(out_dir, data_folder(dst))  # the folder first: the .mrxs appears only when complete
        try:
            os.replace(out_mrxs, dst)
        except OSError:
            shutil.rmtree(data_folder(dst), ignore_errors=True)
            raise
        fd = os.open(dst.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cert
