from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, computed_field

from app.db.models import Stain


class SlideSummary(BaseModel):
    """A slide as listed inside its case."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    display_name: str
    stain: str
    format: str
    vendor: str | None
    width: int
    height: int
    mpp_x: float | None
    mpp_y: float | None
    objective_power: float | None
    bytes: int
    status: str
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def thumbnail_url(self) -> str:
        return f"/api/slides/{self.id}/thumbnail.jpg"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def dzi_url(self) -> str:
        return f"/api/slides/{self.id}/dzi"


class SlideOut(SlideSummary):
    """Everything the viewer needs to know about a slide."""

    level_count: int
    level_dimensions: list[list[int]]
    level_downsamples: list[float]
    associated_images: list[str]
    sha256: str
    uploaded_by_id: int | None
    tile_size: int = 0
    tile_overlap: int = 0


class SlidePatch(BaseModel):
    stain: Stain = Field(description="The stain of the section on this slide.")
