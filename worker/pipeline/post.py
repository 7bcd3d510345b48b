"""Instances, classifier crops and classification for map lines the detector has finished.

The detector sweeps a slide line by line (rows top to bottom, or columns left to right, see
`run.sweep_axis`) and everything after it needs only final lines, so this runs on its own thread
while the detector works further on (onnxruntime, OpenSlide and most of numpy/scipy release the GIL). The result equals running the steps one after the other:
`RowStreamExtractor` yields exactly the whole-map instances, and crops wait until their pixels
have been read.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from app.slides.reader import SlideReader
from worker.evaluation.metrics import sigmoid
from worker.pipeline.focus import FocusJudge
from worker.pipeline.instances import (
    Instance,
    InstanceParams,
    ProbabilityCanvas,
    RowStreamExtractor,
    transposed,
)
from worker.pipeline.models import LoadedModel
from worker.pipeline.mosaic import TileMosaic

CLASSIFY_BATCH = 32
MIN_NEW_ROWS = 48  # map lines (4 µm each): fewer new final lines than this are not worth a slab


def classify_crops(cls: LoadedModel, crops: NDArray[np.uint8], batch_size: int = CLASSIFY_BATCH) -> NDArray[np.float32]:
    """Per-finding probabilities (N, n_classes) for crops at the classifier's µm/px."""
    outs = [sigmoid(cls.run(crops[i : i + batch_size])) for i in range(0, len(crops), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0, len(cls.card["classes"])), np.float32)


def read_crops(reader: SlideReader, centres: list[tuple[float, float]], *, mpp0: float, mpp: float, size: int) -> NDArray[np.uint8]:
    """`size`² crops at `mpp` centred on level-0 points, read from the slide (white beyond it)."""
    half = size * mpp / mpp0 / 2
    out = np.empty((len(centres), size, size, 3), np.uint8)
    for i, (cx, cy) in enumerate(centres):
        img = reader.read_rect_mpp(round(cx - half), round(cy - half), round(2 * half), round(2 * half),
                                   mpp, mpp0=mpp0)
        if img.shape[:2] != (size, size):
            img = np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR))
        out[i] = img
    return out


class PostProcessor:
    """Background threads: final map lines → instances → crops → classification, and focus scores.

    Args:
        canvas: the detector's probability canvas (rows above the offered final row never change).
        params: instance extraction parameters.
        tissue: tissue mask on the canvas grid.
        grid_px0: level-0 px per canvas px.
        cls: the classifier.
        mosaic: the pixels the detector read (crops are sliced from it when the µm/px match).
        reader: the slide, for crops at another µm/px.
        mpp0: level-0 µm/px.
        focus: the out-of-focus judge (None: not checked).
        ink: marker ink on the canvas grid (None: not looked for); `tissue` counts it as tissue.
        axis: the detector's sweep: 0, rows become final top to bottom; 1, columns left to right
            (the extractor then streams over the transposed map, and instances are turned back).
    """

    def __init__(self, *, canvas: ProbabilityCanvas, params: InstanceParams, tissue: NDArray[np.bool_],
                 grid_px0: float, cls: LoadedModel, mosaic: TileMosaic, reader: SlideReader, mpp0: float,
                 focus: FocusJudge | None = None, axis: int = 0, ink: NDArray[np.bool_] | None = None) -> None:
        self.canvas, self.tissue, self.grid_px0 = canvas, tissue, grid_px0
        self.ink = ink
        self.axis = axis
        if axis == 1:
            self.tissue = np.ascontiguousarray(tissue.T)
            if self.ink is not None:
                self.ink = np.ascontiguousarray(self.ink.T)
        self.focus = focus
        self.extractor = RowStreamExtractor(params)
        self.cls, self.mosaic, self.reader, self.mpp0 = cls, mosaic, reader, mpp0
        self.cmpp = float(cls.card["input"]["mpp"])
        self.csize = int(cls.card["input"]["crop"])
        self.from_mosaic = math.isclose(self.cmpp, mosaic.mpp)
        self.stats = {"instances_s": 0.0, "focus_s": 0.0, "crops_s": 0.0, "classify_s": 0.0, "slabs": 0.0}
        self._q: queue.Queue[int | None] = queue.Queue()
        self._stop = threading.Event()
        self._last = 0
        self._uncropped: list[Instance] = []
        self._unclassified: list[tuple[Instance, NDArray[np.uint8]]] = []
        self._done: list[tuple[Instance, NDArray[np.float32]]] = []
        self._error: BaseException | None = None
        self._focus_scores: list[tuple[Instance, float]] = []
        self._focus_q: queue.Queue[list[Instance] | None] = queue.Queue()
        self._focus_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="glomcheck-post", daemon=True)
        self._thread.start()
        # Focus scoring (1 µm/px reads + filtering) has a thread of its own: its flags are only decided
        # in finish(), and once the detector is done it then runs beside classification on the other core.
        self._focus_thread: threading.Thread | None = None
        if focus is not None:
            self._focus_thread = threading.Thread(target=self._run_focus, name="glomcheck-focus", daemon=True)
            self._focus_thread.start()

    # -- called from the detector's thread --------------------------------------------------
    def offer(self, final_line: int) -> None:
        """Canvas lines (rows, or columns when `axis` is 1) before `final_line` are final."""
        self._q.put(final_line)

    def finish(self) -> list[tuple[Instance, NDArray[np.float32]]]:
        """Handle the rest of the (now complete) map; (instance, probabilities) sorted top-left first."""
        self._q.put(None)
        self._thread.join()
        self._focus_q.put(None)
        if self._focus_thread is not None:
            self._focus_thread.join()
        if self._error is not None:
            raise self._error
        if self._focus_error is not None:
            raise self._focus_error
        if self.focus is not None and self._focus_scores:
            t0 = time.perf_counter()
            insts = [i for i, _ in self._focus_scores]
            results = self.focus.decide([self._box_px0(i) for i in insts], [s for _, s in self._focus_scores])
            for inst, fr in zip(insts, results):
                inst.focus = None if math.isnan(fr.ratio) else round(fr.ratio, 3)
                if fr.out_of_focus:
                    inst.flags.append("out_of_focus")
            self.stats["focus_s"] += time.perf_counter() - t0
        return sorted(self._done, key=lambda d: (d[0].bbox[1], d[0].bbox[0]))

    def cancel(self) -> None:
        self._stop.set()
        self._q.put(None)
        self._focus_q.put(None)
        self._thread.join()
        if self._focus_thread is not None:
            self._focus_thread.join()

    # -- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        from worker.pipeline.run import yield_to_model

        yield_to_model()
        try:
            end = False
            while not end:
                item = self._q.get()
                final = 0 if item is None else item
                end = item is None
                while not end:  # only the newest offer matters
                    try:
                        nxt = self._q.get_nowait()
                    except queue.Empty:
                        break
                    end, final = nxt is None, final if nxt is None else nxt
                if self._stop.is_set():
                    return
                if not end and final - self._last < MIN_NEW_ROWS:
                    continue
                self._last = final
                self._step(final, end)
        except BaseException as exc:  # noqa: BLE001 - re-raised by finish()
            self._error = exc

    def _step(self, final: int, end: bool) -> None:
        t0 = time.perf_counter()
        if self.axis == 0:
            new = self.extractor.feed(self.canvas.rows, self.canvas.height, self.tissue, final, end=end, ink=self.ink)
        else:
            new = [transposed(i) for i in self.extractor.feed(self.canvas.columns, self.canvas.width, self.tissue,
                                                              final, end=end, ink=self.ink)]
        self.stats["instances_s"] += time.perf_counter() - t0
        self.stats["slabs"] += 1
        if self.focus is not None and new:  # scored on the focus thread; flags in finish()
            self._focus_q.put(new)
        self._uncropped += new
        t0 = time.perf_counter()
        waiting: list[Instance] = []
        for inst in self._uncropped:
            cx, cy = self._centre(inst)
            if not self.from_mosaic:
                crop = read_crops(self.reader, [(cx, cy)], mpp0=self.mpp0, mpp=self.cmpp, size=self.csize)[0]
            else:
                r = self.mosaic.crop_rect(cx, cy, self.csize)
                if not (end or self.mosaic.ready(r.x, r.y, r.w, r.h)):
                    waiting.append(inst)
                    continue
                crop = self.mosaic.region(r.x, r.y, r.w, r.h)
            self._unclassified.append((inst, crop))
        self._uncropped = waiting
        self.stats["crops_s"] += time.perf_counter() - t0
        while len(self._unclassified) >= CLASSIFY_BATCH or (end and self._unclassified):
            batch, self._unclassified = self._unclassified[:CLASSIFY_BATCH], self._unclassified[CLASSIFY_BATCH:]
            t0 = time.perf_counter()
            probs = classify_crops(self.cls, np.stack([c for _, c in batch]))
            self.stats["classify_s"] += time.perf_counter() - t0
            self._done += [(inst, p) for (inst, _), p in zip(batch, probs)]

    def _run_focus(self) -> None:
        """The reference patches first (while the detector starts), then each glomerulus handed over."""
        from worker.pipeline.run import yield_to_model

        yield_to_model()
        assert self.focus is not None
        try:
            t0 = time.perf_counter()
            self.focus.measure_patches()
            self.stats["focus_s"] += time.perf_counter() - t0
            while (batch := self._focus_q.get()) is not None:
                if self._stop.is_set():
                    return
                t0 = time.perf_counter()
                self._focus_scores += [(inst, self.focus.score(self._box_px0(inst))) for inst in batch]
                self.stats["focus_s"] += time.perf_counter() - t0
        except BaseException as exc:  # noqa: BLE001 - re-raised by finish()
            self._focus_error = exc

    def _box_px0(self, inst: Instance) -> tuple[float, float, float, float]:
        g = self.grid_px0
        return (inst.bbox[0] * g, inst.bbox[1] * g, inst.bbox[2] * g, inst.bbox[3] * g)

    def _centre(self, inst: Instance) -> tuple[float, float]:
        """Level-0 centre of the instance's bounding box (what the classifier was trained on)."""
        x0, y0, x1, y1 = inst.bbox
        return (x0 + x1) / 2 * self.grid_px0, (y0 + y1) / 2 * self.grid_px0


def describe_stats(stats: dict[str, Any]) -> dict[str, float]:
    """Post-processing busy times, as reported in `timings_s`."""
    return {"instances": stats["instances_s"], "focus": stats["focus_s"], "classification_read": stats["crops_s"],
            "classification_compute": stats["classify_s"],
            "classification": stats["crops_s"] + stats["classify_s"]}
