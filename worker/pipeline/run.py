"""The slide pipeline: tissue → tiled detection → instances → crops → classification → statuses.

Importable without Celery; the `analyze_slide` task only opens the reader and calls
`analyze_slide_file`. Pixels are read on a background thread while onnxruntime runs, so reading
overlaps inference.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import Polygon

from app.assessment.findings import Thresholds, glomerulus_status
from app.config import get_settings
from app.research.geojson import ink_features
from app.slides.reader import SlideReader, SlideReadError
from worker.evaluation.metrics import sigmoid
from worker.pipeline.allocator import retain_freed_memory
from worker.pipeline.focus import ABS_FLOOR as FOCUS_ABS_FLOOR
from worker.pipeline.focus import FOCUS_VERSION, FocusJudge
from worker.pipeline.ink import INK_VERSION, ink_polygons
from worker.pipeline.instances import InstanceParams, ProbabilityCanvas
from worker.pipeline.models import CLASSIFIER, DETECTOR, LoadedModel, load_model
from worker.pipeline.mosaic import Rect, TileMosaic
from worker.pipeline.post import PostProcessor, describe_stats
from worker.pipeline.tissue import Tile, compute_tissue_mask, tile_grid

PIPELINE_VERSION = "1.0.0"
TISSUE_MPP = 16.0  # µm/px of the tissue mask: glomeruli span ~10 px, cores ~40; 4× cheaper than 8 µm/px
Progress = Callable[[str, float], None]


def detector_batch(det: LoadedModel) -> int:
    """Tiles per onnxruntime call: 1 on CPU, 8 on CUDA.

    On 2 CPU cores one 512² tile per call was as fast as four (measured: 0.30 s vs 0.32 s for 4
    tiles), and single tiles keep the raster order that lets rows become final early; a GPU wants
    bigger batches to be fed at all.
    """
    return 8 if "CUDAExecutionProvider" in det.providers else 1


class PipelineCancelled(Exception):
    """`should_cancel()` returned True; no partial result is returned."""


@dataclass
class PipelineResult:
    """What one analysis produced; `to_dict()` is JSON-serialisable.

    Attributes:
        slide: path, level-0 size (px), µm/px and where it came from, vendor, tissue fraction.
        glomeruli: one dict per glomerulus: id, polygon_px (level 0), bbox_px [x0, y0, x1, y1],
            score, findings {key: prob}, status, flags, area_um2, centroid_px.
        timings_s: seconds per stage (tissue, detection, instances, classification, total) and the
            read/compute split inside detection.
        models: name, version, task, sha256, providers of each model used.
    """

    slide: dict[str, Any]
    glomeruli: list[dict[str, Any]]
    timings_s: dict[str, float]
    models: list[dict[str, Any]]
    pipeline_version: str = PIPELINE_VERSION
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=8)
def _cached_model(name: str, models_dir: str | None) -> LoadedModel:
    return load_model(name, models_dir=Path(models_dir) if models_dir else None)


def get_models(models_dir: Path | None = None) -> tuple[LoadedModel, LoadedModel]:
    """The detector and classifier, verified and loaded once per process."""
    key = str(models_dir) if models_dir else None
    return _cached_model(DETECTOR, key), _cached_model(CLASSIFIER, key)


def _round_to(v: float, multiple: int) -> int:
    return max(multiple, math.ceil(round(v, 3) / multiple) * multiple)


def yield_to_model() -> None:
    """Lower this thread's CPU priority (Linux: per thread) so onnxruntime's threads are not preempted.

    onnxruntime splits each operator over its threads and waits for the slowest; a reader or
    post-processing thread that takes a core mid-operator stalls all of them. At a lower priority
    these threads use the gaps the model leaves (setting `pipeline_helper_nice`).
    """
    nice = get_settings().pipeline_helper_nice
    if nice and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError:
            pass


def tile_rects(tiles: list[Tile], *, mpp0: float, mpp: float, size: int, multiple: int) -> list[Rect]:
    """Detector tiles in mosaic px, sizes rounded up to the network's multiple (≤ `size`)."""
    f = mpp / mpp0
    return [Rect(round(t.x0 / f), round(t.y0 / f), min(size, _round_to(t.w / f, multiple)),
                 min(size, _round_to(t.h / f, multiple))) for t in tiles]


def sweep_axis(tiles: list[Tile]) -> int:
    """The axis the detector sweeps along: 0 top to bottom, 1 left to right.

    Glomeruli of the last line of tiles can only be handled once the detector has finished, so
    that line's instances, focus checks and classification are a tail nothing overlaps. Sweeping
    along the axis with more lines of tiles keeps it smallest: a slide of three needle cores laid
    side by side has ~5 rows of tiles but ~20 columns.
    """
    return 1 if len({t.x0 for t in tiles}) > len({t.y0 for t in tiles}) else 0


def _tiles_reader(
    mosaic: TileMosaic, tiles: list[Tile], out: queue.Queue[Any], stop: threading.Event, stats: dict[str, float],
    axis: int,
) -> None:
    """Producer: read the mosaic cell by cell and queue each tile as soon as its pixels are in."""
    yield_to_model()
    try:
        it = mosaic.stream(axis)
        while not stop.is_set():
            t0 = time.perf_counter()
            item = next(it, None)
            stats["read_s"] += time.perf_counter() - t0
            if item is None:
                break
            out.put((tiles[item[0]], item[1]))
    except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
        out.put(exc)
    finally:
        out.put(None)


def _batches(q: queue.Queue[Any], n: int) -> Iterator[list[tuple[Tile, NDArray[np.uint8]]]]:
    """Group queued tiles into batches of equal shape (tiles shrunk to tissue differ in size)."""
    buckets: dict[tuple[int, ...], list[tuple[Tile, NDArray[np.uint8]]]] = {}
    while True:
        item = q.get()
        if item is None:
            break
        if isinstance(item, BaseException):
            raise item
        b = buckets.setdefault(item[1].shape, [])
        b.append(item)
        if len(b) == n:
            yield b
            buckets[item[1].shape] = []
    for b in buckets.values():
        if b:
            yield b


def shrink_to_tissue(tiles: list[Tile], mask: Any, *, margin_px0: int, quantum_px0: int) -> list[Tile]:
    """Crop each tile to its tissue bounding box plus `margin_px0`, sizes rounded up to `quantum_px0`.

    The detector is fully convolutional, so a tile covering a sliver of a needle core need not be
    computed over the glass around it. The margin equals the stitching trim, so only glass is trimmed.
    """
    out: list[Tile] = []
    ds = mask.downsample
    m = mask.mask
    for t in tiles:
        mx0, my0 = int(t.x0 / ds), int(t.y0 / ds)
        mx1, my1 = max(mx0 + 1, math.ceil((t.x0 + t.w) / ds)), max(my0 + 1, math.ceil((t.y0 + t.h) / ds))
        win = m[my0:my1, mx0:mx1]
        rows, cols = np.flatnonzero(win.any(axis=1)), np.flatnonzero(win.any(axis=0))
        if rows.size == 0:
            continue

        def span(lo: int, hi: int, start: int, size: int) -> tuple[int, int]:
            a, b = max(start, lo - margin_px0), min(start + size, hi + margin_px0)
            n = min(size, math.ceil((b - a) / quantum_px0) * quantum_px0)
            return min(a, start + size - n), n

        x, w = span(int(t.x0 + cols[0] * ds), int(t.x0 + (cols[-1] + 1) * ds), t.x0, t.w)
        y, h = span(int(t.y0 + rows[0] * ds), int(t.y0 + (rows[-1] + 1) * ds), t.y0, t.h)
        out.append(Tile(x, y, w, h))
    return out


def plan_tiles(det: LoadedModel, *, slide_size: tuple[int, int], mpp0: float, tissue_mask: Any) -> list[Tile]:
    """Detector tiles (level-0 px) over tissue only, each cropped to its tissue plus the stitching trim."""
    card = det.card
    mpp = float(card["input"]["mpp"])
    size, stride = int(card["input"]["tile"]), int(card["input"]["stride"])
    ostride, trim = int(card["output"]["stride"]), int(card["output"]["trim"])
    multiple = int(card["input"].get("multiple_of", 16))
    tiles = tile_grid(tissue_mask, slide_size=slide_size, tile_px0=max(1, round(size * mpp / mpp0)),
                      stride_px0=max(1, round(stride * mpp / mpp0)))
    return shrink_to_tissue(tiles, tissue_mask, margin_px0=round(trim * ostride * mpp / mpp0),
                            quantum_px0=round(max(64, multiple) * mpp / mpp0))


class Detection(NamedTuple):
    """The stitched probability map (at `map_mpp`; None when a `post` processor consumed it line by
    line), read/compute stats, and the pixels read for it."""

    prob: NDArray[np.float32] | None
    map_mpp: float
    stats: dict[str, float]
    mosaic: TileMosaic
    post: PostProcessor | None = None


def detect(
    reader: SlideReader,
    det: LoadedModel,
    *,
    mpp0: float,
    tissue_mask: Any,
    batch_size: int | None = None,
    progress: Progress | None = None,
    should_cancel: Callable[[], bool] | None = None,
    post: Callable[[ProbabilityCanvas, TileMosaic, int], PostProcessor] | None = None,
) -> Detection:
    """Run the detector over tissue tiles and stitch a slide-wide probability map.

    `post`, when given, builds a `PostProcessor` on the canvas, the pixels read and the sweep axis;
    it is told after every batch which map lines (rows, or columns when sweeping left to right) are
    final (no remaining tile reaches before them), so instances and classification run while the
    detector is still busy further on. The sweep axis is `sweep_axis(tiles)`.
    """
    card = det.card
    mpp = float(card["input"]["mpp"])
    size = int(card["input"]["tile"])
    ostride = int(card["output"]["stride"])
    trim = int(card["output"]["trim"])
    out_mpp = mpp * ostride
    w0, h0 = reader.dimensions
    multiple = int(card["input"].get("multiple_of", 16))
    tiles = plan_tiles(det, slide_size=(w0, h0), mpp0=mpp0, tissue_mask=tissue_mask)
    ink = getattr(tissue_mask, "ink", None)
    mosaic = TileMosaic(reader, mpp0=mpp0, mpp=mpp,
                        rects=tile_rects(tiles, mpp0=mpp0, mpp=mpp, size=size, multiple=multiple),
                        blank=None if ink is None else (ink, tissue_mask.downsample))
    mw, mh = math.ceil(w0 * mpp0 / out_mpp), math.ceil(h0 * mpp0 / out_mpp)
    canvas = ProbabilityCanvas(mw, mh)
    stats = {"read_s": 0.0, "infer_s": 0.0, "tiles": float(len(tiles))}
    # first canvas line (row, or column) of each tile still to come: lines before the smallest are final
    axis = sweep_axis(tiles)
    extent = mh if axis == 0 else mw
    tops = Counter(round((t.y0 if axis == 0 else t.x0) * mpp0 / out_mpp) for t in tiles)
    pp = post(canvas, mosaic, axis) if post is not None else None
    batch_size = batch_size or detector_batch(det)
    # room to read ahead by about a row of tiles (≤ 25 MB), so reading the next row's cells never stalls the model
    q: queue.Queue[Any] = queue.Queue(maxsize=max(32, batch_size * 4))
    stop = threading.Event()
    th = threading.Thread(target=_tiles_reader, args=(mosaic, tiles, q, stop, stats, axis), daemon=True)
    th.start()
    done = 0
    try:
        for batch in _batches(q, batch_size):
            if should_cancel is not None and should_cancel():
                raise PipelineCancelled("analysis cancelled")
            t0 = time.perf_counter()
            logits = det.run(np.stack([img for _, img in batch]))
            stats["infer_s"] += time.perf_counter() - t0
            probs = sigmoid(logits[:, 0])
            for (t, _), p in zip(batch, probs):
                x, y = round(t.x0 * mpp0 / out_mpp), round(t.y0 * mpp0 / out_mpp)
                canvas.add(p, x, y, trim)
                top = y if axis == 0 else x
                tops[top] -= 1
                if tops[top] == 0:
                    del tops[top]
            if pp is not None:
                pp.offer(min(tops) if tops else extent)
            done += len(batch)
            if progress is not None:
                progress("detection", done / max(1, len(tiles)))
    except BaseException:
        if pp is not None:
            pp.cancel()
        raise
    finally:
        stop.set()
        while th.is_alive():  # drain so the producer can finish
            try:
                q.get_nowait()
            except queue.Empty:
                th.join(0.01)
    # with a post processor nobody needs the whole map, and stitching it would sit in the tail
    return Detection(canvas.result() if pp is None else None, out_mpp, stats, mosaic, pp)


def _on_grid(mask: NDArray[np.bool_], downsample: float, shape: tuple[int, int], grid_px0: float) -> NDArray[np.bool_]:
    """Nearest-neighbour resample of a mask (`downsample` level-0 px per px) onto a grid of `grid_px0`
    level-0 px per cell."""
    h, w = shape
    ys = np.minimum(((np.arange(h) + 0.5) * grid_px0 / downsample).astype(int), mask.shape[0] - 1)
    xs = np.minimum(((np.arange(w) + 0.5) * grid_px0 / downsample).astype(int), mask.shape[1] - 1)
    return np.asarray(mask[np.ix_(ys, xs)], bool)


def analyze_slide_file(
    reader: SlideReader,
    *,
    mpp_override: float | None = None,
    progress: Progress | None = None,
    should_cancel: Callable[[], bool] | None = None,
    models_dir: Path | None = None,
    batch_size: int | None = None,
    stain: str | None = None,
) -> PipelineResult:
    """Find and grade every glomerulus of an open slide.

    Args:
        reader: the open slide.
        mpp_override: level-0 µm/px to use instead of (or when missing from) the file.
        progress: called with (stage, fraction 0–1) as work advances.
        should_cancel: polled between batches; True raises `PipelineCancelled`.
        models_dir: folder holding `glom_detector/` and `glom_classifier/` (default: shipped models).
        batch_size: detector tiles per onnxruntime call (default: `detector_batch`).
        stain: the slide's stain (pas, pam, mt, he; None: unknown), for the marker-ink rule: blue
            and green count as ink only when very saturated on MT or an unknown stain.

    Raises:
        SlideReadError: the slide states no µm/px and none was supplied.
        ModelIntegrityError: a model file does not match its card's SHA-256.
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    def report(stage: str, frac: float) -> None:
        if progress is not None:
            progress(stage, frac)

    if mpp_override is not None:
        if not (0.01 < mpp_override < 100):
            raise SlideReadError(f"µm/px override {mpp_override} is not plausible")
        mpp0, mpp_source = float(mpp_override), "override"
    elif reader.mpp is not None:
        mpp0, mpp_source = reader.mpp[0], "file"
    else:
        raise SlideReadError(
            "The slide does not state its resolution (µm/px), so glomerulus sizes cannot be measured; "
            "supply it explicitly (e.g. `glomcheck analyze SLIDE --mpp 0.25`)."
        )
    retain_freed_memory(get_settings().pipeline_malloc_retain_mb)
    det, cls = get_models(models_dir)
    timings["load_models"] = time.perf_counter() - t_start

    t0 = time.perf_counter()
    report("tissue", 0.0)
    settings = get_settings()
    tmask = compute_tissue_mask(reader, mpp0=mpp0, mask_mpp=TISSUE_MPP, ink=settings.ink_check, stain=stain)
    timings["tissue"] = time.perf_counter() - t0
    report("tissue", 1.0)

    t0 = time.perf_counter()
    pp = det.card.get("postprocess", {})
    map_mpp = float(det.card["input"]["mpp"]) * int(det.card["output"]["stride"])
    grid_px0 = map_mpp / mpp0
    params = InstanceParams(map_mpp=map_mpp, threshold=float(pp.get("threshold", 0.5)),
                            min_diameter_um=float(pp.get("min_diameter_um", 50.0)),
                            split_distance_um=float(pp.get("split_distance_um", 100.0)))

    def start_post(canvas: ProbabilityCanvas, mosaic: TileMosaic, axis: int) -> PostProcessor:
        shape = canvas.sum.shape
        # edge_cut is about where the section ends: ink lying on the section does not end it
        ink = tmask.ink if tmask.ink is not None and tmask.ink_px else None
        sectioned = tmask.mask if ink is None else tmask.mask | ink
        ink_grid = None if ink is None else _on_grid(ink, tmask.downsample, shape, grid_px0)
        return PostProcessor(canvas=canvas, params=params, tissue=_on_grid(sectioned, tmask.downsample, shape, grid_px0),
                             grid_px0=grid_px0, cls=cls, mosaic=mosaic, reader=reader, mpp0=mpp0, focus=focus,
                             axis=axis, ink=ink_grid)

    focus = FocusJudge(reader, mpp0=mpp0, tissue_mask=tmask) if settings.focus_check else None

    detection = detect(reader, det, mpp0=mpp0, tissue_mask=tmask, batch_size=batch_size, progress=progress,
                       should_cancel=should_cancel, post=start_post)
    timings["detection"] = time.perf_counter() - t0
    timings["detection_read"] = detection.stats["read_s"]
    timings["detection_compute"] = detection.stats["infer_s"]
    post = detection.post
    assert post is not None
    if should_cancel is not None and should_cancel():
        post.cancel()
        raise PipelineCancelled("analysis cancelled")
    t0 = time.perf_counter()
    report("classification", 0.0)
    graded = post.finish()  # the rows below the last offered final row, then the last crops
    timings["after_detection"] = time.perf_counter() - t0
    timings.update(describe_stats(post.stats))
    report("classification", 1.0)

    thresholds = {k: Thresholds(float(v["t_lo"]), float(v["t_hi"])) for k, v in cls.card["thresholds"].items()}
    classes: list[str] = list(cls.card["classes"])
    gloms: list[dict[str, Any]] = []
    for n, (inst, p) in enumerate(graded, start=1):
        poly = (inst.polygon * grid_px0).round(1)
        findings = {k: round(float(v), 4) for k, v in zip(classes, p)}
        status = glomerulus_status(findings, thresholds, inst.flags)
        x0, y0, x1, y1 = inst.bbox
        gloms.append({
            "id": n,
            "polygon_px": poly.tolist(),
            "bbox_px": [round(x0 * grid_px0), round(y0 * grid_px0), round(x1 * grid_px0), round(y1 * grid_px0)],
            "centroid_px": [round(float(c), 1) for c in Polygon(poly).centroid.coords[0]],
            "score": round(inst.score, 4),
            "findings": findings,
            "status": str(status.value),
            "flags": list(inst.flags),
            "focus": inst.focus,
            "area_um2": round(float(Polygon(inst.polygon).area) * map_mpp * map_mpp, 1),
        })
    timings["total"] = time.perf_counter() - t_start
    w0, h0 = reader.dimensions
    slide = {"path": str(reader.path), "width_px": w0, "height_px": h0, "mpp": mpp0, "mpp_source": mpp_source,
             "vendor": reader.vendor, "tissue_fraction": round(tmask.fraction, 4)}
    stats = {"tiles": int(detection.stats["tiles"]), "n_glomeruli": len(gloms),
             "detector_mpp": float(det.card["input"]["mpp"]), "classifier_mpp": float(cls.card["input"]["mpp"]),
             "focus_version": FOCUS_VERSION if focus is not None else None,
             "focus_reference": None if focus is None or math.isnan(focus.reference) else round(focus.reference, 3),
             "slide_blurred": bool(focus is not None and not math.isnan(focus.reference)
                                   and focus.reference < FOCUS_ABS_FLOOR),
             "ink_version": INK_VERSION if tmask.ink is not None else None,
             "ink_area_mm2": round(tmask.ink_px * (tmask.downsample * mpp0 / 1000) ** 2, 3) if tmask.ink is not None else None,
             "ink_regions_px": ink_polygons(tmask.ink, tmask.downsample) if tmask.ink is not None and tmask.ink_px else []}
    return PipelineResult(slide=slide, glomeruli=gloms, timings_s={k: round(v, 4) for k, v in timings.items()},
                          models=[det.describe(), cls.describe()], stats=stats)


def result_geojson(result: PipelineResult | dict[str, Any]) -> dict[str, Any]:
    """QuPath-compatible GeoJSON of a result (level-0 px; findings as measurements)."""
    d = result.to_dict() if isinstance(result, PipelineResult) else result
    feats = []
    for g in d["glomeruli"]:
        ring = [list(p) for p in g["polygon_px"]]
        if ring and ring[0] != ring[-1]:
            ring.append(ring[0])
        feats.append({
            "type": "Feature", "id": f"glom-{g['id']}",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {
                "objectType": "detection",
                "classification": {"name": "Glomerulus", "color": [0, 160, 60]},
                "name": f"glom-{g['id']} {g['status']}",
                "measurements": {"score": g["score"], "area_um2": g["area_um2"], **g["findings"]},
                "findings": g["findings"], "status": g["status"], "flags": g["flags"],
            },
        })
    feats += ink_features(d.get("stats", {}).get("ink_regions_px") or [])
    return {"type": "FeatureCollection", "features": feats,
            "properties": {"models": d["models"], "pipeline_version": d.get("pipeline_version")}}
