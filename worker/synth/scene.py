"""Layout of a synthetic renal biopsy slide: needle-core sections, glomeruli with known findings, vessels.

All geometry is in µm from the slide's top-left corner; level-0 pixels are µm / `MPP0`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import Polygon

from app.assessment.findings import Finding

MPP0 = 0.25  # µm/px of level 0 (a 40× scan)
RASTER_MPP = 1.0  # µm/px at which tissue is actually rendered; finer levels are interpolated
FILE_TILE = 512  # TIFF tile edge, level-0 px
BORDER_UM = FILE_TILE * MPP0 * 2  # glomeruli "across tile borders" are centred on multiples of this

Stain = Literal["pas", "pam", "mt", "he"]
Size = Literal["small", "full"]
FINDINGS: tuple[str, ...] = tuple(f.value for f in Finding)
CRESCENT_KINDS = ("cellular_crescent", "fibrocellular_crescent", "fibrous_crescent")


@dataclass(frozen=True)
class Section:
    """One needle-core section: a wavy band along a slightly tilted axis with rounded ends.

    Attributes:
        x0, y0: start of the axis, µm.
        angle: axis angle, radians.
        length: axis length, µm.
        half_width: mean half width, µm.
        wobble: (amplitude µm, wavelength µm, phase rad) terms added to the half width.
    """

    x0: float
    y0: float
    angle: float
    length: float
    half_width: float
    wobble: tuple[tuple[float, float, float], ...]

    def local(self, x: NDArray[np.float32], y: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """(u along the axis, v across it) in µm."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        dx, dy = x - self.x0, y - self.y0
        return (dx * c + dy * s).astype(np.float32), (-dx * s + dy * c).astype(np.float32)

    def hw(self, u: NDArray[np.float32]) -> NDArray[np.float32]:
        """Half width (µm) at axis position u, tapering to round ends."""
        w = np.full(np.shape(u), self.half_width, np.float32)
        for amp, lam, ph in self.wobble:
            w += np.float32(amp) * np.sin(np.float32(2 * math.pi / lam) * u + np.float32(ph)).astype(np.float32)
        uc = np.clip(u, 0, self.length)
        end = np.minimum(uc, self.length - uc)
        taper = np.sqrt(np.clip(1 - np.clip(1 - end / self.half_width, 0, 1) ** 2, 0, 1))
        return np.asarray(w * taper, np.float32)

    def margin(self, x: NDArray[np.float32], y: NDArray[np.float32]) -> NDArray[np.float32]:
        """Approximate signed distance to the section edge, µm (positive inside)."""
        u, v = self.local(x, y)
        inside_u = np.minimum(u, self.length - u)
        return np.asarray(np.minimum(self.hw(u) - np.abs(v), inside_u), np.float32)

    def polygon(self, n: int = 400) -> Polygon:
        """Outline as a shapely polygon in µm."""
        u = np.linspace(0, self.length, n).astype(np.float32)
        w = self.hw(u)
        c, s = math.cos(self.angle), math.sin(self.angle)
        top = [(self.x0 + ui * c - wi * s, self.y0 + ui * s + wi * c) for ui, wi in zip(u, w)]
        bot = [(self.x0 + ui * c + wi * s, self.y0 + ui * s - wi * c) for ui, wi in zip(u, w)]
        return Polygon(top + bot[::-1]).buffer(0)


@dataclass
class Glomerulus:
    """A glomerulus to draw (or a real crop to composite) with its ground-truth findings.

    Attributes:
        gid: index within the slide.
        cx, cy: centre, µm.
        radius: outer (Bowman's capsule) radius, µm.
        findings: finding key -> 1/0, or None where unknown (real crops carry only global sclerosis).
        section: index of the section it lies in.
        crop: path of the real crop composited here, or None for a drawn glomerulus.
        edge_cut: deliberately placed across the tissue edge.
        across_tile_border: centre placed exactly on a file-tile border.
        seed: per-glomerulus texture seed.
        shape: (a2, p2, a3, p3) outline harmonics.
        aspect: x/y stretch of composited crops.
    """

    gid: int
    cx: float
    cy: float
    radius: float
    findings: dict[str, int | None]
    section: int
    crop: str | None = None
    crop_mask: str | None = None
    edge_cut: bool = False
    across_tile_border: bool = False
    seed: int = 0
    shape: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    aspect: float = 1.0
    extra: dict[str, float] = field(default_factory=dict)

    def outline(self, n: int = 72) -> NDArray[np.float64]:
        """Capsule outline of a drawn glomerulus, (n, 2) in µm."""
        th = np.linspace(0, 2 * math.pi, n, endpoint=False)
        a2, p2, a3, p3 = self.shape
        r = self.radius * (1 + a2 * np.sin(2 * th + p2) + a3 * np.sin(3 * th + p3))
        return np.stack([self.cx + r * np.cos(th), self.cy + r * np.sin(th)], axis=1)


@dataclass(frozen=True)
class Vessel:
    """An artery cross-section: wall and lumen radii in µm."""

    cx: float
    cy: float
    radius: float
    lumen: float


@dataclass
class Scene:
    """Everything needed to render a slide deterministically."""

    seed: int
    stain: Stain
    width_um: float
    height_um: float
    sections: list[Section]
    glomeruli: list[Glomerulus]
    vessels: list[Vessel]
    composited: bool = False

    @property
    def level0_size(self) -> tuple[int, int]:
        return round(self.width_um / MPP0), round(self.height_um / MPP0)


@dataclass(frozen=True)
class RealCrop:
    """A real glomerulus crop with its mask and global-sclerosis label."""

    image: str
    mask: str
    global_sclerosis: int
    centre: str


def _sample_findings(rng: np.random.Generator) -> dict[str, int | None]:
    f: dict[str, int | None] = {k: 0 for k in FINDINGS}
    if rng.random() < 0.2:
        f["global_sclerosis"] = 1
        return f
    if rng.random() < 0.35:
        return f  # normal
    if rng.random() < 0.3:
        f[CRESCENT_KINDS[int(rng.integers(3))]] = 1
    for key, p in (
        ("segmental_sclerosis", 0.25),
        ("endocapillary_hypercellularity", 0.25),
        ("mesangial_hypercellularity", 0.3),
        ("nodular_sclerosis", 0.15),
        ("fibrinoid_necrosis", 0.15),
    ):
        if rng.random() < p:
            f[key] = 1
    return f


def build_scene(
    seed: int,
    *,
    stain: Stain = "pas",
    sections: int = 1,
    size: Size = "small",
    crops: list[RealCrop] | None = None,
    density_per_mm2: float = 5.0,
) -> Scene:
    """Lay out sections, glomeruli and vessels.

    Args:
        seed: determines everything.
        stain: stain to imitate.
        sections: 1-3 needle-core sections stacked vertically.
        size: "small" (2.4 mm cores, for tests) or "full" (1.5 cm cores, a real biopsy's length).
        crops: real crops to composite instead of drawn glomeruli (all glomeruli become crops).
        density_per_mm2: glomeruli per mm² of tissue (real cortex: a few per mm²).
    """
    if not 1 <= sections <= 3:
        raise ValueError("sections must be 1-3")
    rng = np.random.default_rng(seed)
    length = 2400.0 if size == "small" else 15000.0
    margin = 300.0
    band = 1200.0
    width = length + 2 * margin
    height = sections * band + 2 * margin - 200
    secs: list[Section] = []
    for i in range(sections):
        hw = float(rng.uniform(260, 380))
        wob = tuple(
            (float(rng.uniform(10, 40)), float(rng.uniform(600, 3000)), float(rng.uniform(0, 6.28))) for _ in range(3)
        )
        secs.append(
            Section(
                x0=margin + float(rng.uniform(-50, 50)),
                y0=margin + i * band + band / 2 - 100 + float(rng.uniform(-60, 60)),
                angle=float(rng.uniform(-0.02, 0.02)),
                length=length - float(rng.uniform(0, 150)),
                half_width=hw,
                wobble=wob,
            )
        )
    gloms: list[Glomerulus] = []
    crop_order = rng.permutation(len(crops)) if crops else None
    for si, sec in enumerate(secs):
        area_mm2 = sec.length * 2 * sec.half_width / 1e6
        n_target = max(3, round(area_mm2 * density_per_mm2))
        tries = 0
        placed = 0
        while placed < n_target and tries < n_target * 60:
            tries += 1
            radius = float(rng.uniform(75, 125))
            u = float(rng.uniform(radius + 60, sec.length - radius - 60))
            kind = rng.random()
            edge_cut = kind < 0.08
            hw_u = float(sec.hw(np.array([u], np.float32))[0])
            if edge_cut:
                v = float(np.sign(rng.random() - 0.5)) * (hw_u - radius * float(rng.uniform(0.2, 0.5)))
            else:
                lim = hw_u - radius - 15
                if lim <= 0:
                    continue
                v = float(rng.uniform(-lim, lim))
            c, s = math.cos(sec.angle), math.sin(sec.angle)
            cx, cy = sec.x0 + u * c - v * s, sec.y0 + u * s + v * c
            across = (not edge_cut) and kind < 0.4
            if across:  # centre exactly on a file-tile border (x, y or both)
                cx = round(cx / BORDER_UM) * BORDER_UM
                if kind < 0.2:
                    cy2 = round(cy / BORDER_UM) * BORDER_UM
                    if abs(cy2 - cy) < 60:
                        cy = cy2
                m = float(sec.margin(np.array([cx], np.float32), np.array([cy], np.float32))[0])
                if m < radius + 10:
                    continue
            if any(math.hypot(cx - g.cx, cy - g.cy) < radius + g.radius + 40 for g in gloms):
                continue
            findings = _sample_findings(rng)
            crop = mask = None
            aspect = 1.0
            if crops and crop_order is not None:
                rc = crops[int(crop_order[len(gloms) % len(crops)])]
                crop, mask = rc.image, rc.mask
                findings = {k: None for k in FINDINGS}
                findings["global_sclerosis"] = rc.global_sclerosis
                aspect = float(rng.uniform(0.85, 1.18))
            gloms.append(
                Glomerulus(
                    gid=len(gloms),
                    cx=cx,
                    cy=cy,
                    radius=radius,
                    findings=findings,
                    section=si,
                    crop=crop,
                    crop_mask=mask,
                    edge_cut=edge_cut,
                    across_tile_border=across,
                    seed=int(rng.integers(1 << 30)),
                    shape=(
                        float(rng.uniform(0, 0.07)),
                        float(rng.uniform(0, 6.28)),
                        float(rng.uniform(0, 0.04)),
                        float(rng.uniform(0, 6.28)),
                    ),
                    aspect=aspect,
                )
            )
            placed += 1
    vessels: list[Vessel] = []
    for sec in secs:
        for _ in range(max(1, int(sec.length / 1200))):
            for _try in range(30):
                r = float(rng.uniform(25, 60))
                u = float(rng.uniform(r + 50, sec.length - r - 50))
                hw_u = float(sec.hw(np.array([u], np.float32))[0])
                if hw_u - r - 20 <= 0:
                    continue
                v = float(rng.uniform(-(hw_u - r - 20), hw_u - r - 20))
                c, s = math.cos(sec.angle), math.sin(sec.angle)
                cx, cy = sec.x0 + u * c - v * s, sec.y0 + u * s + v * c
                if any(math.hypot(cx - g.cx, cy - g.cy) < r + g.radius + 30 for g in gloms):
                    continue
                if any(math.hypot(cx - o.cx, cy - o.cy) < r + o.radius + 30 for o in vessels):
                    continue
                vessels.append(Vessel(cx, cy, r, r * float(rng.uniform(0.35, 0.6))))
                break
    return Scene(seed, stain, width, height, secs, gloms, vessels, composited=bool(crops))
