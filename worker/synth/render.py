"""Render a `Scene` to an RGB raster at `RASTER_MPP` µm/px.

Tissue is built from material amounts (stroma, cytoplasm, basement membrane, matrix, nuclei,
erythrocytes, fibrin) mixed in optical-density space with per-stain colours (Beer–Lambert), so the
same scene can be "stained" PAS, PAM (silver), Masson trichrome or H&E.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from worker.synth.noise import smoothstep, value_noise, worley
from worker.synth.scene import RASTER_MPP, Glomerulus, RealCrop, Scene, Stain, Vessel

F32 = NDArray[np.float32]
MATERIALS = ("stroma", "cyto", "membrane", "matrix", "nuc", "rbc", "fibrin")
GLASS = np.array([255, 255, 255], np.float32)  # matches sparse (empty) tiles, which read as white

# RGB of each material at full amount, per stain.
_STAIN_RGB: dict[str, dict[str, tuple[int, int, int]]] = {
    "pas": {
        "stroma": (228, 200, 222), "cyto": (226, 178, 210), "membrane": (178, 36, 128),
        "matrix": (206, 104, 176), "nuc": (66, 58, 136), "rbc": (214, 96, 118), "fibrin": (196, 50, 104),
    },
    "pam": {
        "stroma": (230, 212, 210), "cyto": (232, 186, 190), "membrane": (40, 38, 42),
        "matrix": (96, 88, 92), "nuc": (82, 72, 112), "rbc": (202, 118, 112), "fibrin": (210, 92, 104),
    },
    "mt": {
        "stroma": (176, 204, 228), "cyto": (214, 112, 124), "membrane": (96, 140, 206),
        "matrix": (82, 122, 200), "nuc": (70, 52, 62), "rbc": (222, 58, 58), "fibrin": (214, 46, 66),
    },
    "he": {
        "stroma": (238, 196, 218), "cyto": (232, 156, 194), "membrane": (214, 120, 176),
        "matrix": (226, 150, 196), "nuc": (74, 56, 132), "rbc": (226, 78, 100), "fibrin": (224, 86, 138),
    },
}


def stain_od(stain: Stain) -> NDArray[np.float32]:
    """(n_materials, 3) optical density per unit amount of each material."""
    rgb = np.array([_STAIN_RGB[stain][m] for m in MATERIALS], np.float32)
    return np.asarray(-np.log(rgb / 255.0), np.float32)


def _to_rgb(amounts: F32, od: NDArray[np.float32], scale: F32 | float, rng_noise: F32) -> NDArray[np.uint8]:
    """Mix (H, W, M) material amounts into RGB uint8."""
    tot = np.tensordot(amounts, od, axes=([2], [0])) * (np.asarray(scale, np.float32)[..., None] if np.ndim(scale) else scale)
    tot += rng_noise[..., None] * np.float32(0.06)
    rgb = GLASS * np.exp(-tot)
    out: NDArray[np.uint8] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return out


def _grid(ox: float, oy: float, w: int, h: int) -> tuple[F32, F32]:
    x = ((np.arange(w, dtype=np.float32) + ox + 0.5) * RASTER_MPP)[None, :]
    y = ((np.arange(h, dtype=np.float32) + oy + 0.5) * RASTER_MPP)[:, None]
    return x, y


def tissue_margin(scene: Scene, x: F32, y: F32) -> F32:
    """Signed distance (µm) to the nearest section edge, positive inside tissue."""
    m = np.full(np.broadcast_shapes(np.shape(x), np.shape(y)), -1e4, np.float32)
    for sec in scene.sections:
        m = np.maximum(m, sec.margin(x, y))
    # ragged, torn edges
    return np.asarray(m + (value_noise(x, y, 25.0, scene.seed, 90) - 0.5) * 12, np.float32)


def render_tissue(scene: Scene, ox: int, oy: int, w: int, h: int) -> tuple[NDArray[np.uint8], F32]:
    """Render tubules, interstitium and tissue edge for a raster window.

    Args:
        scene: the slide layout.
        ox, oy: window origin in raster pixels.
        w, h: window size in raster pixels.

    Returns:
        (RGB uint8 (h, w, 3), tissue alpha (h, w) in [0, 1]).
    """
    s = scene.seed
    x, y = _grid(ox, oy, w, h)
    inside = smoothstep(-0.7, 0.7, tissue_margin(scene, x, y))
    if not inside.any():
        return np.broadcast_to(GLASS.astype(np.uint8), (h, w, 3)).copy(), inside
    amounts = np.zeros((h, w, len(MATERIALS)), np.float32)
    f1, f2, ident = worley(x, y, 46.0, s, 1, jitter=0.85)
    edge = (f2 - f1) * 0.5  # distance to the cell boundary, µm
    wi = 1.6 + 3.5 * value_noise(x, y, 120.0, s, 5)  # interstitial width, µm
    lumen_r = 2.0 + 9.0 * ident
    atrophic = ident > 0.9
    interst = smoothstep(0.6, -0.6, edge - wi)
    membrane = smoothstep(-0.6, 0.4, edge - wi) * smoothstep(0.6, -0.4, edge - wi - 1.4 - atrophic * 1.5)
    lumen = smoothstep(0.7, -0.7, f1 - lumen_r)
    epi = np.clip(1 - interst - membrane - lumen, 0, 1)
    n1, _, nid = worley(x, y, 8.0, s, 11)
    basal = smoothstep(0.5, -0.5, edge - wi - 9.0)
    epi_nuc = smoothstep(2.9, 2.2, n1) * (nid < 0.8) * epi * basal
    n2, _, nid2 = worley(x, y, 13.0, s, 21)
    int_nuc = smoothstep(2.4, 1.7, n2) * (nid2 < 0.45) * interst
    fib = value_noise(x, y, 6.0, s, 31)
    amounts[..., 0] = interst * (0.55 + 0.5 * fib)
    amounts[..., 1] = epi * (0.75 + 0.3 * value_noise(x, y, 4.0, s, 33)) + lumen * 0.04
    amounts[..., 2] = membrane * 0.85 + smoothstep(1.2, 0.0, np.abs(f1 - lumen_r - 0.6)) * epi * 0.35
    nuc = np.clip(epi_nuc + int_nuc, 0, 1)
    amounts[..., :4] *= (1 - nuc)[..., None]
    amounts[..., 4] = nuc * 0.95
    amounts *= inside[..., None]
    scale = 0.85 + 0.3 * value_noise(x, y, 700.0, s, 41)
    noise = value_noise(x, y, 1.3, s, 51) - 0.5
    return _to_rgb(amounts, stain_od(scene.stain), scale, noise), inside


def _bump(theta: F32, centre: float, half_span: float) -> F32:
    """1 inside an angular sector of half width `half_span` rad around `centre`, smooth edges."""
    d = np.abs(np.angle(np.exp(1j * (theta - centre)))).astype(np.float32)
    return smoothstep(half_span, half_span * 0.6, d)


def render_glomerulus(scene: Scene, g: Glomerulus, ox: int, oy: int, w: int, h: int) -> tuple[NDArray[np.uint8], F32]:
    """Draw one glomerulus with its findings over a raster window.

    Returns:
        (RGB uint8, alpha in [0, 1]) for the window; alpha covers capsule and periglomerular rim.
    """
    s = g.seed
    x, y = _grid(ox, oy, w, h)
    dx, dy = x - g.cx, y - g.cy
    d = np.sqrt(dx * dx + dy * dy).astype(np.float32)
    th = np.arctan2(dy, dx).astype(np.float32)
    a2, p2, a3, p3 = g.shape
    rc = (g.radius * (1 + a2 * np.sin(2 * th + p2) + a3 * np.sin(3 * th + p3))).astype(np.float32)
    f = {k: bool(v) for k, v in g.findings.items()}
    rng = np.random.default_rng(s)
    gs = f.get("global_sclerosis", False)
    cap_w = 4.0 if gs else float(rng.uniform(1.4, 2.4))
    bs = float(rng.uniform(4, 9))
    rt = rc - cap_w - bs
    if gs:
        rt = rc * float(rng.uniform(0.78, 0.92)) - cap_w
    crescent = next((k for k in ("cellular_crescent", "fibrocellular_crescent", "fibrous_crescent") if f.get(k)), None)
    cres_w = np.zeros_like(d)
    if crescent:
        span = float(rng.uniform(1.3, 3.1))
        cres_w = _bump(th, float(rng.uniform(-math.pi, math.pi)), span)
        rt = rt - cres_w * rc * float(rng.uniform(0.22, 0.36))
    seg_mask = np.zeros_like(d)
    if f.get("segmental_sclerosis"):
        seg_mask = _bump(th, float(rng.uniform(-math.pi, math.pi)), float(rng.uniform(0.5, 1.0)))
        rt = rt + seg_mask * (bs * 0.9)  # adhesion: tuft reaches the capsule in the sclerosed sector
    amounts = np.zeros((h, w, len(MATERIALS)), np.float32)
    tuft = smoothstep(0.7, -0.7, d - rt)
    capsule = smoothstep(-0.6, 0.5, d - (rc - cap_w)) * smoothstep(0.6, -0.6, d - rc)
    space = np.clip(smoothstep(0.6, -0.6, d - (rc - cap_w)) - tuft, 0, 1)
    peri = smoothstep(0.5, -0.5, d - rc - (10.0 if gs else 2.5)) - smoothstep(0.5, -0.5, d - rc)
    # capillary loops and cells of the tuft
    l1, _, lid = worley(x, y, 8.5, s, 3)
    lumen_r = 3.4
    cell_density = 0.55
    if f.get("endocapillary_hypercellularity"):
        lumen_r, cell_density = 1.6, 1.0
    lumen = smoothstep(0.6, -0.6, l1 - lumen_r)
    wall = smoothstep(0.8, -0.2, np.abs(l1 - lumen_r - 0.4))
    n1, _, nid = worley(x, y, 6.5, s, 7)
    nuc = smoothstep(2.3, 1.6, n1) * (nid < cell_density) * (1 - lumen * (0.0 if cell_density > 0.9 else 1.0))
    matrix = np.full_like(d, 0.22)
    rbc = lumen * (lid < 0.2) * 0.6
    if f.get("mesangial_hypercellularity"):
        m1, _, mid = worley(x, y, 4.6, s, 9)
        centre = smoothstep(0.7, 0.4, d / np.maximum(rt, 1)) * (value_noise(x, y, 18.0, s, 10) > 0.45)
        nuc = np.maximum(nuc, smoothstep(2.1, 1.5, m1) * (mid < 0.9) * centre)
        lumen = lumen * (1 - centre)
    if f.get("nodular_sclerosis"):
        for _ in range(int(rng.integers(1, 4))):
            ang, rr = float(rng.uniform(-math.pi, math.pi)), float(rng.uniform(0.2, 0.55))
            nx, ny = g.cx + math.cos(ang) * rr * g.radius * 0.7, g.cy + math.sin(ang) * rr * g.radius * 0.7
            nr = g.radius * float(rng.uniform(0.16, 0.26))
            nod = smoothstep(1.0, -1.0, np.sqrt((x - nx) ** 2 + (y - ny) ** 2) - nr)
            lam = 0.8 + 0.2 * np.sin(np.sqrt((x - nx) ** 2 + (y - ny) ** 2) * 1.3)
            matrix = np.maximum(matrix, nod * 0.95 * lam)
            nuc, lumen, rbc = nuc * (1 - nod), lumen * (1 - nod), rbc * (1 - nod)
    if f.get("segmental_sclerosis"):
        sect = seg_mask * smoothstep(0.25, 0.45, d / np.maximum(rt, 1))
        matrix = np.maximum(matrix, sect * 0.9)
        nuc, lumen, rbc = nuc * (1 - sect * 0.85), lumen * (1 - sect), rbc * (1 - sect)
    fibrin = np.zeros_like(d)
    if f.get("fibrinoid_necrosis"):
        ang, rr = float(rng.uniform(-math.pi, math.pi)), float(rng.uniform(0.2, 0.5))
        nx, ny = g.cx + math.cos(ang) * rr * g.radius, g.cy + math.sin(ang) * rr * g.radius
        pr = g.radius * float(rng.uniform(0.2, 0.3))
        wob = (value_noise(x, y, 10.0, s, 12) - 0.5) * pr * 0.6
        patch = smoothstep(1.0, -1.0, np.sqrt((x - nx) ** 2 + (y - ny) ** 2) - pr - wob)
        k1, _, kid = worley(x, y, 4.0, s, 13)
        fibrin = patch * 0.95
        dust = smoothstep(1.0, 0.5, k1) * (kid < 0.5) * patch
        nuc = np.maximum(nuc * (1 - patch), dust)
        lumen, rbc, wall = lumen * (1 - patch), rbc * (1 - patch), wall * (1 - patch)
    if gs:
        lumen = lumen * 0.0
        rbc = rbc * 0.0
        nuc = nuc * (nid < 0.1)
        hy = value_noise(x, y, 12.0, s, 14)
        matrix = 0.75 + 0.25 * hy
        wall = wall * 0.2
    # assemble tuft
    t_amt = amounts
    t_amt[..., 3] = tuft * matrix * (1 - lumen)
    t_amt[..., 2] = tuft * wall * 0.55 * (1 - nuc) + capsule * 0.9
    t_amt[..., 5] = tuft * rbc
    t_amt[..., 6] = tuft * fibrin
    t_amt[..., 1] = tuft * 0.12 * (1 - lumen)
    t_nuc = tuft * nuc
    # crescent in Bowman's space
    if crescent:
        creg = space * smoothstep(0.15, 0.35, cres_w)
        c1, _, cid = worley(x, y, 6.0, s, 15)
        cfrac = {"cellular_crescent": 0.9, "fibrocellular_crescent": 0.45, "fibrous_crescent": 0.08}[crescent]
        cmat = {"cellular_crescent": 0.1, "fibrocellular_crescent": 0.5, "fibrous_crescent": 0.92}[crescent]
        cn = smoothstep(2.4, 1.7, c1) * (cid < cfrac) * creg
        t_amt[..., 1] += creg * (1 - cmat) * 0.8 * (1 - cn)
        t_amt[..., 3] += creg * cmat * (1 - cn)
        t_nuc = np.maximum(t_nuc, cn)
        space = space * (1 - creg)
    t_amt[..., 0] += peri * (0.9 if gs else 0.4) + space * 0.03
    t_amt[..., :4] *= (1 - t_nuc)[..., None]
    t_amt[..., 4] = t_nuc * 0.95
    alpha = np.clip(smoothstep(0.6, -0.6, d - rc) + peri, 0, 1)
    noise = value_noise(x, y, 1.3, s, 16) - 0.5
    scale = 0.9 + 0.2 * value_noise(x, y, 700.0, scene.seed, 41)
    return _to_rgb(t_amt, stain_od(scene.stain), scale, noise), alpha


def render_vessel(scene: Scene, v: Vessel, ox: int, oy: int, w: int, h: int) -> tuple[NDArray[np.uint8], F32]:
    """An arteriole: lumen with erythrocytes, muscular media with elongated nuclei, adventitia."""
    s = scene.seed + 7_777 + int(v.cx)
    x, y = _grid(ox, oy, w, h)
    d = np.sqrt((x - v.cx) ** 2 + (y - v.cy) ** 2).astype(np.float32)
    th = np.arctan2(y - v.cy, x - v.cx)
    amounts = np.zeros((h, w, len(MATERIALS)), np.float32)
    lumen = smoothstep(0.6, -0.6, d - v.lumen)
    wall = smoothstep(-0.6, 0.6, d - v.lumen - 1.5) * smoothstep(0.6, -0.6, d - v.radius)
    intima = smoothstep(-0.5, 0.5, d - v.lumen) * smoothstep(0.5, -0.5, d - v.lumen - 1.5)
    adv = smoothstep(-0.6, 0.6, d - v.radius) * smoothstep(0.6, -0.6, d - v.radius - 8)
    circ = (d * 0.0 + th * v.radius * 0.35).astype(np.float32)
    n1, _, nid = worley(circ, d * 3.0, 7.0, s, 1)
    nuc = smoothstep(1.8, 1.0, n1) * (nid < 0.6) * wall
    r1, _, rid = worley(x, y, 7.0, s, 2)
    amounts[..., 1] = wall * 0.9 * (1 - nuc)
    amounts[..., 2] = intima * 0.9
    amounts[..., 0] = adv * 0.9
    amounts[..., 5] = lumen * smoothstep(3.2, 2.6, r1) * (rid < 0.7)
    amounts[..., 4] = nuc * 0.9
    alpha = smoothstep(0.6, -0.6, d - v.radius - 8)
    noise = value_noise(x, y, 1.3, s, 3) - 0.5
    return _to_rgb(amounts, stain_od(scene.stain), 1.0, noise), alpha


_REAL_PAS = np.array([[0.65, 0.70, 0.29], [0.22, 0.82, 0.25]], np.float32)  # haematoxylin, PAS-magenta OD


def _restain(rgb: NDArray[np.uint8], stain: Stain) -> NDArray[np.uint8]:
    """Crudely re-stain a real PAS crop: unmix haematoxylin/magenta, remix with the target stain."""
    if stain == "pas":
        return rgb
    od = -np.log(np.clip(rgb.astype(np.float32), 1, 255) / 255.0)
    basis = _REAL_PAS / np.linalg.norm(_REAL_PAS, axis=1, keepdims=True)
    conc = np.clip(od.reshape(-1, 3) @ np.linalg.pinv(basis), 0, None)
    tgt = stain_od(stain)
    nuc, mat = tgt[MATERIALS.index("nuc")], tgt[MATERIALS.index("matrix")]
    nuc = nuc / np.linalg.norm(nuc) * 1.0
    mat = mat / np.linalg.norm(mat) * 1.0
    out = conc[:, :1] * nuc + conc[:, 1:] * mat
    mixed: NDArray[np.uint8] = np.clip(255 * np.exp(-out.reshape(od.shape)), 0, 255).astype(np.uint8)
    return mixed


def crop_patch(scene: Scene, g: Glomerulus) -> tuple[NDArray[np.uint8], F32, int, int]:
    """A real crop resized to the glomerulus diameter at RASTER_MPP, with a feathered mask.

    Returns:
        (RGB, alpha, ox, oy): patch pixels and its top-left raster coordinate.
    """
    assert g.crop is not None and g.crop_mask is not None
    img = Image.open(g.crop).convert("RGB")
    mask = Image.open(g.crop_mask).convert("L")
    dw = max(8, round(2 * g.radius * g.aspect / RASTER_MPP))
    dh = max(8, round(2 * g.radius / g.aspect / RASTER_MPP))
    rgb = np.asarray(img.resize((dw, dh), Image.Resampling.BILINEAR))
    m = np.asarray(mask.resize((dw, dh), Image.Resampling.BILINEAR), np.float32) / 255.0
    m = ndimage.gaussian_filter((m >= 0.5).astype(np.float32), 0.8)
    rgb = _restain(rgb, scene.stain)
    ox = round(g.cx / RASTER_MPP - dw / 2)
    oy = round(g.cy / RASTER_MPP - dh / 2)
    return rgb, m.astype(np.float32), ox, oy


def crop_outline_um(scene: Scene, g: Glomerulus) -> NDArray[np.float64] | None:
    """Outline (µm) of a composited crop's mask, or None when the mask is empty."""
    from skimage.measure import find_contours

    _rgb, m, ox, oy = crop_patch(scene, g)
    cs = find_contours(np.pad(m, 1), 0.5)
    if not cs:
        return None
    c = max(cs, key=len)
    return np.stack([(c[:, 1] - 1 + ox + 0.5) * RASTER_MPP, (c[:, 0] - 1 + oy + 0.5) * RASTER_MPP], axis=1)


def _blend(raster: NDArray[np.uint8], rgb: NDArray[np.uint8], alpha: F32, ox: int, oy: int) -> None:
    """Alpha-blend a patch into the raster in place, clipping at the raster edge."""
    H, W = raster.shape[:2]
    h, w = alpha.shape
    x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + w, W), min(oy + h, H)
    if x0 >= x1 or y0 >= y1:
        return
    a = alpha[y0 - oy : y1 - oy, x0 - ox : x1 - ox, None]
    src = rgb[y0 - oy : y1 - oy, x0 - ox : x1 - ox].astype(np.float32)
    dst = raster[y0:y1, x0:x1].astype(np.float32)
    raster[y0:y1, x0:x1] = np.clip(dst * (1 - a) + src * a + 0.5, 0, 255).astype(np.uint8)


def render_raster(scene: Scene, *, block: int = 512) -> NDArray[np.uint8]:
    """The whole slide at RASTER_MPP µm/px (tissue blocks, then vessels and glomeruli composited)."""
    W = math.ceil(scene.width_um / RASTER_MPP)
    H = math.ceil(scene.height_um / RASTER_MPP)
    raster = np.empty((H, W, 3), np.uint8)
    raster[:] = GLASS.astype(np.uint8)
    alpha_full = np.zeros((H, W), np.float16)  # tissue alpha; half precision keeps a 1.5 cm slide small
    polys = [sec.polygon() for sec in scene.sections]
    from shapely.geometry import box

    for by in range(0, H, block):
        for bx in range(0, W, block):
            bw, bh = min(block, W - bx), min(block, H - by)
            b = box((bx - 20) * RASTER_MPP, (by - 20) * RASTER_MPP, (bx + bw + 20) * RASTER_MPP, (by + bh + 20) * RASTER_MPP)
            if not any(p.intersects(b) for p in polys):
                continue
            rgb, alpha = render_tissue(scene, bx, by, bw, bh)
            raster[by : by + bh, bx : bx + bw] = rgb
            alpha_full[by : by + bh, bx : bx + bw] = alpha
    for v in scene.vessels:
        pad = int(v.radius / RASTER_MPP) + 12
        ox, oy = int(v.cx / RASTER_MPP) - pad, int(v.cy / RASTER_MPP) - pad
        rgb, a = render_vessel(scene, v, ox, oy, 2 * pad, 2 * pad)
        _blend(raster, rgb, a * _window(alpha_full, ox, oy, 2 * pad, 2 * pad), ox, oy)
    for g in scene.glomeruli:
        if g.crop is not None:
            rgb, a, ox, oy = crop_patch(scene, g)
        else:
            pad = int(g.radius * 1.15 / RASTER_MPP) + 14
            ox, oy = int(g.cx / RASTER_MPP) - pad, int(g.cy / RASTER_MPP) - pad
            rgb, a = render_glomerulus(scene, g, ox, oy, 2 * pad, 2 * pad)
        h, w = a.shape
        _blend(raster, rgb, a * _window(alpha_full, ox, oy, w, h), ox, oy)
    return raster


def _window(full: NDArray[np.floating], ox: int, oy: int, w: int, h: int) -> F32:
    """A (h, w) window of `full` at (ox, oy), zero outside."""
    out = np.zeros((h, w), np.float32)
    H, W = full.shape
    x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + w, W), min(oy + h, H)
    if x0 < x1 and y0 < y1:
        out[y0 - oy : y1 - oy, x0 - ox : x1 - ox] = full[y0:y1, x0:x1].astype(np.float32)
    return out


def load_real_crops(root: Path, *, centres: set[str] | None = None) -> list[RealCrop]:
    """Real crops laid out like the shared glomeruli folder (labels.csv, or GS/nonGS folder names)."""
    import csv


    out: list[RealCrop] = []
    labels = root / "labels.csv"
    if labels.exists():
        with labels.open() as fh:
            for row in csv.DictReader(fh):
                centre = row.get("center") or row.get("centre") or ""
                if centres and centre not in centres:
                    continue
                out.append(RealCrop(str(root / row["image"]), str(root / row["mask"]), int(row["label"] == "GS"), centre))
    else:
        for lab in ("GS", "nonGS"):
            for p in sorted((root / "images" / lab).glob("*.png")):
                centre = p.name.split("_")[0]
                if centres and centre not in centres:
                    continue
                out.append(RealCrop(str(p), str(root / "masks" / p.name), int(lab == "GS"), centre))
    return out

