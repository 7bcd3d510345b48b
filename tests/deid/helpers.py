"""Assertions shared by the format tests."""

from __future__ import annotations

from pathlib import Path

import openslide

from app.deid import Certificate
from tests.deid.conftest import PLANTED


def raw_bytes(path: Path) -> bytes:
    if path.is_dir():
        return b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())
    return path.read_bytes()


def assert_clean(
    src_open: Path, dst_open: Path, dst: Path, cert: Certificate, planted: tuple[str, ...] = PLANTED
) -> None:
    """Same pyramid and pixels, no label/macro, no planted string in properties or raw bytes."""
    a, b = openslide.OpenSlide(str(src_open)), openslide.OpenSlide(str(dst_open))
    try:
        assert b.level_dimensions == a.level_dimensions
        assert not {"label", "macro"} & set(b.associated_images)
        for level, (w, h) in enumerate(a.level_dimensions):
            ds = a.level_downsamples[level]
            for x, y in ((0, 0), (max(0, w - 64), max(0, h - 64)), (w // 3, h // 2)):
                loc = (int(x * ds), int(y * ds))
                size = (min(64, w), min(64, h))
                assert a.read_region(loc, level, size).tobytes() == b.read_region(loc, level, size).tobytes()
        props = "\n".join(f"{k}={v}" for k, v in b.properties.items())
    finally:
        a.close()
        b.close()
    data = raw_bytes(dst)
    for s in planted:
        assert s not in props, s
        assert s.encode() not in data, s
    assert cert.verified and all(c.passed for c in cert.checks)
    assert cert.sha256_before != cert.sha256_after
    # The certificate itself must not carry the identifiers it certifies as removed.
    dumped = cert.model_dump_json()
    for s in planted:
        assert s not in dumped, s


def removed_names(cert: Certificate, kind: str) -> set[str]:
    return {r.name for r in cert.removed if r.kind == kind}
