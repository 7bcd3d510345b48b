"""Tile benchmark: Deep Zoom JPEG tile latency p50/p99 against a real uvicorn subprocess, cold and warm,
with 1 and 16 concurrent clients.

    python bench/bench_tiles.py [--levels 3] [--database-url postgresql://...]

Slides: CMU-1-Small-Region.svs, the NDPI and the DICOM series (zipped), uploaded through the API.
Tiles: every tile of the top `--levels` Deep Zoom levels of each slide, in a fixed shuffled order.
  cold = a freshly started server process (no open slides cached, no tile ever rendered), first pass;
  warm = the same tiles again on that process (readers cached, file pages in the OS cache).
There is no server-side tile cache, so warm still renders every tile; `revalidate` is the warm pass
with If-None-Match (304, no rendering).

A/B of the direct tile reads (app/slides/tiled_tiff.py): the warm single-client pass over the SVS's
tiles only, on servers started with GLOMCHECK_DIRECT_TILE_READS=1 and =0, alternately, `--ab-rounds`
times each (the NDPI and DICOM slides always go through OpenSlide, so they are left out of it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_upload import REPO, LiveServer  # noqa: E402

SLIDES = REPO.parent / "shared" / "data" / "slides"
SAMPLES = ["CMU-1-Small-Region.svs", "ndpi-fluorescence-dapi.ndpi", "dicom-cmu1-small"]


def upload_samples(server: LiveServer, token: str, tmp: Path) -> list[int]:
    ids = []
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
        case_id = c.post("/api/cases").json()["id"]
        for name in SAMPLES:
            p = SLIDES / name
            if p.is_dir():
                z = tmp / f"{name}.zip"
                with zipfile.ZipFile(z, "w") as zf:
                    for f in sorted(p.iterdir()):
                        zf.write(f, f"{name}/{f.name}")
                p = z
            r = c.put(f"/api/cases/{case_id}/slides", params={"filename": p.name, "stain": "pas"},
                      content=p.read_bytes(), headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 201, r.text
            ids.append(int(r.json()["slide_id"]))
    return ids


def tile_urls(server: LiveServer, token: str, ids: list[int], levels: int) -> list[str]:
    urls = []
    ns = "{http://schemas.microsoft.com/deepzoom/2008}"
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
        for sid in ids:
            root = ET.fromstring(c.get(f"/api/slides/{sid}/dzi").text)
            ts = int(root.attrib["TileSize"])
            size = root.find(f"{ns}Size")
            assert size is not None
            w, h = int(size.attrib["Width"]), int(size.attrib["Height"])
            top = (max(w, h) - 1).bit_length()
            for level in range(top, top - levels, -1):
                scale = 2 ** (top - level)
                lw, lh = -(-w // scale), -(-h // scale)
                for row in range(-(-lh // ts)):
                    for col in range(-(-lw // ts)):
                        urls.append(f"/api/slides/{sid}/dzi_files/{level}/{col}_{row}.jpeg")
    random.Random(7).shuffle(urls)
    return urls


async def run_pass(base: str, token: str, urls: list[str], concurrency: int,
                   etags: dict[str, str] | None = None) -> tuple[list[float], float, dict[str, str]]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for u in urls:
        queue.put_nowait(u)
    lat: list[float] = []
    seen: dict[str, str] = {}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            while True:
                try:
                    u = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                headers = {"If-None-Match": etags[u]} if etags else {}
                t0 = time.perf_counter()
                r = await c.get(u, headers=headers)
                lat.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == (304 if etags else 200), (u, r.status_code, r.text[:200])
                seen[u] = r.headers["etag"]

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return lat, time.perf_counter() - t0, seen


def summary(lat: list[float], wall: float) -> dict[str, float]:
    q = statistics.quantiles(lat, n=100, method="inclusive")
    return {"n": len(lat), "p50_ms": round(q[49], 1), "p99_ms": round(q[98], 1),
            "mean_ms": round(statistics.fmean(lat), 1), "tiles_per_s": round(len(lat) / wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--ab-rounds", type=int, default=3, help="Alternating rounds of the direct-reads A/B (0: skip).")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-tiles-", dir=REPO.parent) as tmpdir:
        tmp = Path(tmpdir)
        server = LiveServer(tmp, args.database_url)
        server.prepare()
        server.start()
        token = server.token()
        ids = upload_samples(server, token, tmp)
        urls = tile_urls(server, token, ids, args.levels)
        server.stop()
        results: dict[str, Any] = {}
        for conc in (1, 16):
            server.start()  # a fresh process: nothing cached
            try:
                lat, wall, etags = asyncio.run(run_pass(server.url, token, urls, conc))
                results[f"cold_c{conc}"] = summary(lat, wall)
                lat, wall, _ = asyncio.run(run_pass(server.url, token, urls, conc))
                results[f"warm_c{conc}"] = summary(lat, wall)
                lat, wall, _ = asyncio.run(run_pass(server.url, token, urls, conc, etags))
                results[f"revalidate_304_c{conc}"] = summary(lat, wall)
            finally:
                server.stop()
        svs = [u for u in urls if u.startswith(f"/api/slides/{ids[0]}/")]
        ab: dict[str, list[dict[str, float]]] = {"direct": [], "openslide": []}
        for _ in range(args.ab_rounds):
            for mode, flag in (("direct", "1"), ("openslide", "0")):
                server.env["GLOMCHECK_DIRECT_TILE_READS"] = flag
                server.start()
                try:
                    asyncio.run(run_pass(server.url, token, svs, 1))  # open the slide, warm the page cache
                    ab[mode].append(summary(*asyncio.run(run_pass(server.url, token, svs, 1))[:2]))
                finally:
                    server.stop()
        if args.ab_rounds:
            results["svs_warm_c1_ab"] = {
                mode: {k: statistics.median(r[k] for r in runs) for k in ("p50_ms", "mean_ms", "tiles_per_s")}
                for mode, runs in ab.items()} | {"tiles": len(svs), "rounds": args.ab_rounds}
        print(json.dumps({"slides": SAMPLES, "tiles_per_pass": len(urls), "levels": args.levels,
                          "database": "postgresql" if args.database_url else "sqlite", **results}, indent=2))


if __name__ == "__main__":
    main()
