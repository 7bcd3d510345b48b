"""Independent verification of a de-identified copy, by re-opening it with OpenSlide.

The checks do not trust the rewriting code: they read the output the way the rest of the service will
(OpenSlide) and compare it with the original, so a bug in a format module shows up as a failed check.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

import openslide

from app.deid.certificate import Check
from app.deid.errors import DeidError

FORBIDDEN_ASSOCIATED = ("label", "macro")
REGION = 256
SAMPLES_PER_LEVEL = 4


def _regions(w: int, h: int, rng: random.Random) -> list[tuple[int, int, int, int]]:
    """Corner, centre, far corner and one random window, each at most REGION² and inside the level."""
    rw, rh = min(REGION, w), min(REGION, h)
    spots = [(0, 0), ((w - rw) // 2, (h - rh) // 2), (w - rw, h - rh)]
    spots.append((rng.randint(0, w - rw), rng.randint(0, h - rh)))
    return [(x, y, rw, rh) for x, y in spots[:SAMPLES_PER_LEVEL]]


def find_needles(haystacks: Iterable[str], needles: Iterable[str]) -> list[str]:
    """Which needles occur anywhere in the haystacks (case-sensitive)."""
    text = "\n".join(haystacks)
    return sorted({n for n in needles if n and n in text})


RAW_NEEDLE_MIN = 8  # shorter strings occur by chance in gigabytes of compressed pixels
RAW_CHUNK = 1 << 22


def ensure_verified(checks: list[Check]) -> None:
    """Raise DeidError naming every failed check (nothing is published unless all passed)."""
    failed = [c for c in checks if not c.passed]
    if failed:
        raise DeidError(
            "verification of the de-identified copy failed: "
            + "; ".join(f"{c.name} ({c.detail})" for c in failed)
        )


def scan_raw(paths: Iterable[Path], needles: Iterable[str]) -> Check:
    """Search every byte of the output for removed identifiers (e.g. a copy we did not know about)."""
    pats = sorted({n.encode("latin-1", "replace") for n in needles if len(n) >= RAW_NEEDLE_MIN})
    overlap = max((len(p) for p in pats), default=1) - 1
    found = 0
    scanned = 0
    for path in paths:
        tail = b""
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(RAW_CHUNK), b""):
                buf = tail + chunk
                found += sum(1 for p in pats if p in buf)
                tail = buf[-overlap:] if overlap else b""
                scanned += len(chunk)
    return Check(
        name="no removed identifier in raw bytes",
        passed=found == 0,
        detail=f"{len(pats)} strings searched in {scanned} bytes" if not found else f"{found} found",
    )


def verify_slide(
    src: Path, dst: Path, *, needles: set[str], metadata_text: Iterable[str] = ()
) -> list[Check]:
    """Compare the de-identified `dst` with `src`; every check is reported, none short-circuits."""
    checks: list[Check] = []
    try:
        out = openslide.OpenSlide(str(dst))
    except (openslide.OpenSlideError, OSError) as exc:
        return [Check(name="opens in OpenSlide", passed=False, detail=str(exc))]
    try:
        orig = openslide.OpenSlide(str(src))
    except (openslide.OpenSlideError, OSError) as exc:
        out.close()
        return [Check(name="original opens in OpenSlide", passed=False, detail=str(exc))]
    try:
        vendor_in = orig.properties.get(openslide.PROPERTY_NAME_VENDOR, "")
        vendor_out = out.properties.get(openslide.PROPERTY_NAME_VENDOR, "")
        checks.append(
            Check(name="opens in OpenSlide", passed=vendor_in == vendor_out, detail=f"vendor {vendor_out}")
        )
        left = sorted(set(out.associated_images) & set(FORBIDDEN_ASSOCIATED))
        checks.append(
            Check(
                name="no label or macro image",
                passed=not left,
                detail=f"associated images: {sorted(out.associated_images) or 'none'}",
            )
        )
        same_dims = orig.level_dimensions == out.level_dimensions
        checks.append(
            Check(
                name="same level dimensions",
                passed=same_dims,
                detail=f"{len(out.level_dimensions)} levels, level 0 {out.level_dimensions[0]}",
            )
        )
        if same_dims:
            try:
                checks.append(_compare_pixels(orig, out))
            except (openslide.OpenSlideError, OSError) as exc:
                checks.append(Check(name="same pixels in sampled regions", passed=False, detail=str(exc)))
        props = [f"{k}={v}" for k, v in out.properties.items()]
        hits = find_needles(props, needles)
        checks.append(
            Check(
                name="no removed identifier in OpenSlide properties",
                passed=not hits,
                detail=f"{len(needles)} strings searched" if not hits else f"{len(hits)} found",
            )
        )
        hits = find_needles(metadata_text, needles)
        checks.append(
            Check(
                name="no removed identifier in file metadata",
                passed=not hits,
                detail=f"{len(needles)} strings searched" if not hits else f"{len(hits)} found",
            )
        )
    finally:
        out.close()
        orig.close()
    return checks


def _compare_pixels(orig: openslide.OpenSlide, out: openslide.OpenSlide) -> Check:
    rng = random.Random(0)
    compared = 0
    for level, (w, h) in enumerate(orig.level_dimensions):
        ds = orig.level_downsamples[level]
        for x, y, rw, rh in _regions(w, h, rng):
            loc = (int(x * ds), int(y * ds))
            a = orig.read_region(loc, level, (rw, rh)).tobytes()
            b = out.read_region(loc, level, (rw, rh)).tobytes()
            compared += 1
            if a != b:
                return Check(
                    name="same pixels in sampled regions",
                    passed=False,
                    detail=f"level {level} region {loc} {rw}x{rh} differs",
                )
    return Check(name="same pixels in sampled regions", passed=True, detail=f"{compared} regions identical")
