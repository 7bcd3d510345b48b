"""Flag glomeruli that are out of focus, judged against the slide's own in-focus tissue.

Why relative: an absolute sharpness threshold (e.g. Laplacian variance) moves with stain intensity,
scanner optics, JPEG quality and content, so one number cannot serve every slide. Here each
glomerulus is compared with tissue patches of the same slide read at the same µm/px, and the measure
itself is a ratio of two frequency bands, so stain contrast cancels out. An absolute floor on that
ratio catches the one case the relative rule cannot see: a slide blurred everywhere.

Why `FOCUS_MPP` = 1 µm/px: defocus first removes detail of 1–2 µm (chromatin, capillary walls, the
PAS-positive basement membranes); the detector's 2 µm/px has already lost it. 1 µm/px is a stored level
of 40× pyramids (level 1 of Aperio's 4× steps, level 2 of 2× steps), so reading it is cheap; on 20× scans
it comes from level 0 at 4× the pixels, still within budget because only a central window of each
glomerulus and a few dozen reference patches are read.

See models/glom_detector/FOCUS.md for the measured detection and false-flag rates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from app.slides.reader import SlideReader
from worker.pipeline.tissue import TissueMask

FOCUS_VERSION = "1.1.1"  # 1.1.0: the reference leaves out patches that overlap a glomerulus found later; 1.1.1: windows on the 1 µm/px grid
FOCUS_MPP = 1.0  # µm/px at which sharpness is measured
REL_THRESHOLD = 0.75  # out of focus when score < REL_THRESHOLD × the slide's reference
ABS_FLOOR = 0.60  # out of focus whatever the reference when score < ABS_FLOOR (blurred-everywhere guard)
WINDOW_UM = 128.0  # central window of each glomerulus that is measured (µm); bounds the cost
PATCH_UM = 96.0  # reference tissue patch edge (µm)
N_PATCHES = 48  # reference patches per slide (fewer when there is less tissue)
MIN_TISSUE_PX = 400  # a window with fewer tissue pixels (at FOCUS_MPP) gets no score
_FINE_SIGMA, _MID_SIGMA = 1.0, 2.0  # px at FOCUS_MPP: fine band = detail below ~2 µm, mid band ~2–4 µm


@dataclass(frozen=True)
class FocusResult:
    """Focus of one glomerulus.

    Attributes:
        score: band ratio of the glomerulus window (NaN when it holds too little tissue to judge).
        reference: median band ratio of the slide's tissue patches (NaN when none could be measured).
        out_of_focus: score < REL_THRESHOLD × reference, or score < ABS_FLOOR, or `slide_blurred`.
        slide_blurred: the reference itself is below ABS_FLOOR: the slide's tissue is out of focus
            everywhere, so no glomerulus of it is trusted (every one is flagged; rescan the slide).
    """

    score: float
    reference: float
    out_of_focus: bool
    slide_blurred: bool

    @property
    def ratio(self) -> float:
        return self.score / self.reference if self.reference > 0 else math.nan


def _tissue_pixels(rgb: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Stained pixels away from glass: the tissue/glass border is a strong edge that blur hardly changes
    relative to its own mid band, so it would dilute the measure."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # channel max/min on uint8 planes: `rgb.max(axis=2)` reduces a length-3 axis ~10x slower
    mx, mn = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    tissue = ((mx - mn) > 0.08 * 255) | (mx < 0.75 * 255)
    return _erode_cross(tissue, 3)


def _erode_cross(m: NDArray[np.bool_], passes: int) -> NDArray[np.bool_]:
    """`passes` binary erosions by the 4-connected cross, outside the array counting as background:
    the same pixels as `ndimage.binary_erosion(m, iterations=passes)`, but five shifted ANDs per pass
    cost ~8× less than scipy's generic structuring-element loop on these small windows (it was a
    third of the focus check's CPU, which competes with onnxruntime for the two cores)."""
    h, w = m.shape
    pad = np.zeros((h + 2, w + 2), bool)
    for _ in range(passes):
        pad[1:-1, 1:-1] = m
        m = pad[1:-1, 1:-1] & pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return m


def sharpness(rgb: NDArray[np.uint8]) -> float:
    """Band ratio RMS(fine) / RMS(mid) over the tissue pixels of an RGB window at FOCUS_MPP.

    Defocus is a low-pass filter: it attenuates the fine band (< ~2 µm) much more than the mid band
    (~2–4 µm), so the ratio falls with blur while stain contrast, which scales both bands, cancels.

    Returns:
        the ratio (measured: ≥ 0.76 on sharp PAS, H&E and synthetic tissue at 1 µm/px; ~0.5 under a
        4 µm defocus), or NaN with too little tissue.
    """
    mask = _tissue_pixels(rgb)
    if int(mask.sum()) < MIN_TISSUE_PX:
        return math.nan
    f = rgb.astype(np.float32)
    g = f[..., 0] * np.float32(0.299) + f[..., 1] * np.float32(0.587) + f[..., 2] * np.float32(0.114)
    g1 = ndimage.gaussian_filter(g, _FINE_SIGMA, truncate=3.0)
    g3 = ndimage.gaussian_filter(g, _MID_SIGMA, truncate=3.0)
    fine = (g - g1)[mask]
    mid = (g1 - g3)[mask]
    den = float(np.sqrt(np.mean(mid * mid)))
    return float(np.sqrt(np.mean(fine * fine))) / den if den > 1e-3 else math.nan


def decide(score: float, reference: float, *, rel: float = REL_THRESHOLD, floor: float = ABS_FLOOR) -> bool:
    """The rule: below `rel` × the slide's in-focus reference, or below the absolute `floor`.

    An unmeasurable glomerulus (NaN score) is not flagged: there is no evidence of blur.
    """
    if math.isnan(score):
        return False
    if score < floor:
        return True
    return not math.isnan(reference) and score < rel * reference


def _read_window(reader: SlideReader, cx: float, cy: float, w_um: float, h_um: float, mpp0: float) -> NDArray[np.uint8]:
    """RGB at FOCUS_MPP of the level-0 rectangle centred on (cx, cy), clipped to the slide.

    The rectangle is snapped to the FOCUS_MPP pixel grid (a shift of under 1 µm): a read that starts
    on a whole pixel of the pyramid level is served from the decoded tiles, where an off-grid one
    makes OpenSlide interpolate at several times the CPU (app/slides/tiled_tiff.py).
    """
    w0, h0 = reader.dimensions
    step = max(1, round(FOCUS_MPP / mpp0))  # level-0 px per FOCUS_MPP px

    def snap(v: float) -> int:
        return int(v // step) * step

    x0, y0 = max(0, snap(cx - w_um / mpp0 / 2)), max(0, snap(cy - h_um / mpp0 / 2))
    x1, y1 = min(snap(w0), snap(cx + w_um / mpp0 / 2)), min(snap(h0), snap(cy + h_um / mpp0 / 2))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return np.full((1, 1, 3), 255, np.uint8)
    return reader.read_rect_mpp(x0, y0, x1 - x0, y1 - y0, FOCUS_MPP, mpp0=mpp0)


def reference_centres(
    tissue_mask: TissueMask, exclude_px0: Sequence[tuple[float, float, float, float]], *, mpp0: float,
    n: int = N_PATCHES,
) -> list[tuple[float, float]]:
    """Level-0 centres of up to `n` reference patches: tissue away from its edge and from glomeruli,
    spread evenly over the tissue (deterministic, so a re-run gives the same flags)."""
    ds = tissue_mask.downsample
    m = np.asarray(tissue_mask.mask, bool)
    inner = ndimage.binary_erosion(m, iterations=max(1, math.ceil(PATCH_UM / 2 / (ds * mpp0))))
    if not inner.any():
        inner = m
    keep = inner.copy()
    for x0, y0, x1, y1 in exclude_px0:
        keep[max(0, int(y0 / ds)) : math.ceil(y1 / ds) + 1, max(0, int(x0 / ds)) : math.ceil(x1 / ds) + 1] = False
    if keep.sum() < n // 4:  # glomeruli everywhere (a small field): use their surroundings too
        keep = inner
    ys, xs = np.nonzero(keep)
    if ys.size == 0:
        return []
    idx = np.unique(np.linspace(0, ys.size - 1, min(n, ys.size)).round().astype(int))
    return [((xs[i] + 0.5) * ds, (ys[i] + 0.5) * ds) for i in idx]


def assess_focus(
    reader: SlideReader,
    boxes_px0: Sequence[tuple[float, float, float, float]],
    *,
    mpp0: float,
    tissue_mask: TissueMask,
) -> list[FocusResult]:
    """Sharpness of each glomerulus relative to the slide's in-focus tissue, and the out-of-focus flag.

    Args:
        reader: the open slide.
        boxes_px0: glomerulus bounding boxes (x0, y0, x1, y1), level-0 px; reference patches avoid them.
        mpp0: level-0 µm/px.
        tissue_mask: the pipeline's tissue mask (any µm/px).

    Returns:
        one `FocusResult` per box, in order.
    """
    if not boxes_px0:
        return []
    judge = FocusJudge(reader, mpp0=mpp0, tissue_mask=tissue_mask, exclude_px0=boxes_px0)
    return judge.decide(boxes_px0, [judge.score(b) for b in boxes_px0])


class FocusJudge:
    """The pipeline's handle: reference patches are measured once, glomeruli one at a time, and the
    flags are decided when every glomerulus is known.

    The pipeline finds glomeruli while the detector still runs, so the reference patches are placed
    before it knows where the glomeruli are. `decide` therefore drops the patches that turned out to
    overlap a glomerulus before taking the median (no extra reads: each patch's score is kept), so
    the reference is tissue outside glomeruli, as with `exclude_px0` given up front.
    """

    def __init__(self, reader: SlideReader, *, mpp0: float, tissue_mask: TissueMask,
                 exclude_px0: Sequence[tuple[float, float, float, float]] = ()) -> None:
        self.reader, self.mpp0, self.tissue_mask = reader, mpp0, tissue_mask
        self.exclude_px0 = list(exclude_px0)
        self._patches: list[tuple[float, float, float]] | None = None  # (cx, cy, score), level-0 centres
        self._reference: float | None = None

    def measure_patches(self) -> None:
        """Read and score the reference patches (idempotent; the pipeline calls it while the detector starts)."""
        if self._patches is None:
            self._patches = [(cx, cy, sharpness(_read_window(self.reader, cx, cy, PATCH_UM, PATCH_UM, self.mpp0)))
                             for cx, cy in reference_centres(self.tissue_mask, self.exclude_px0, mpp0=self.mpp0)]

    def reference_excluding(self, boxes_px0: Sequence[tuple[float, float, float, float]]) -> float:
        """Median score of the reference patches that overlap none of `boxes_px0` (all of them when
        fewer than a quarter would remain: a field crowded with glomeruli); NaN when none scored."""
        self.measure_patches()
        assert self._patches is not None
        half = PATCH_UM / self.mpp0 / 2
        scored = [(cx, cy, v) for cx, cy, v in self._patches if not math.isnan(v)]
        clear = [v for cx, cy, v in scored
                 if not any(cx + half > x0 and cx - half < x1 and cy + half > y0 and cy - half < y1
                            for x0, y0, x1, y1 in boxes_px0)]
        vals = clear if len(clear) >= max(1, len(scored) // 4) else [v for _, _, v in scored]
        return float(np.median(vals)) if vals else math.nan

    @property
    def reference(self) -> float:
        """The reference `decide` used (before it: the median over every patch)."""
        if self._reference is None:
            return self.reference_excluding([])
        return self._reference

    def score(self, box_px0: tuple[float, float, float, float]) -> float:
        """Sharpness of the box's central WINDOW_UM square: the tuft, not the surrounding tissue, is what is graded."""
        x0, y0, x1, y1 = box_px0
        w_um, h_um = min(WINDOW_UM, (x1 - x0) * self.mpp0), min(WINDOW_UM, (y1 - y0) * self.mpp0)
        return sharpness(_read_window(self.reader, (x0 + x1) / 2, (y0 + y1) / 2, w_um, h_um, self.mpp0))

    def decide(self, boxes_px0: Sequence[tuple[float, float, float, float]], scores: Sequence[float]) -> list[FocusResult]:
        """Flags for every glomerulus of the slide, against the reference outside all of them."""
        reference = self._reference = self.reference_excluding(boxes_px0)
        blurred = not math.isnan(reference) and reference < ABS_FLOOR
        return [FocusResult(score=s, reference=reference, out_of_focus=blurred or decide(s, reference),
                            slide_blurred=blurred) for s in scores]
