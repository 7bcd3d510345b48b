"""Real bbox-resized crops → classifier inputs at the classifier's µm/px (torch-free)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from models.training.data import place_crop


def crop_inputs(paths: list[Path], *, mpp: float, size: int, diameter_um: float = 200.0) -> NDArray[np.uint8]:
    """Each crop assumed `diameter_um` across (real glomeruli: 150–250 µm), centred in a `size`² frame."""
    return np.stack([place_crop(np.asarray(Image.open(p).convert("RGB")), size=size, mpp=mpp, diameter_um=diameter_um)
                     for p in paths])
