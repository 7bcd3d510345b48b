"""Model card shapes: what a reader needs to judge a model (task, data, licence, metrics per finding)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ModelClass(BaseModel):
    """One output class (a finding for the classifier) with its thresholds and validation metrics."""

    key: str
    label_en: str | None = None
    label_ja: str | None = None
    t_lo: float | None = None
    t_hi: float | None = None
    synthetic_only: bool = False
    metrics: dict[str, Any] = Field(default_factory=dict, description="scalar metrics: auc, kappa, n, n_pos, …")


class ModelFile(BaseModel):
    name: str | None
    sha256: str | None = Field(description="what the card says")
    size_bytes: int | None
    present: bool
    sha256_matches: bool | None = Field(description="file on disk hashes to the card's sha256; null if unknown")


class ModelCardOut(BaseModel):
    key: str = Field(description="folder under models/; also accepted by GET /api/models/{name}")
    name: str
    version: str | None
    task: str | None
    input_mpp: float | None
    stains: list[str] = Field(default_factory=list)
    classes: list[ModelClass] = Field(default_factory=list)
    synthetic_only: list[str] = Field(default_factory=list, description="findings learnt from synthetic data only")
    synthetic_cohort: bool = False
    caveat: str | None = None
    caveat_code: str | None = Field(None, description="the caveat's code when the UI has a translation of its exact words")
    training_data: list[dict[str, Any]] = Field(default_factory=list)
    licence: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, description="model-level metrics (not per class)")
    file: ModelFile
    created: str | None = None


class ModelCardDetail(ModelCardOut):
    card: dict[str, Any] = Field(description="card.json as shipped")
    card_md: str | None = Field(description="CARD.md text, if shipped")


class ModelCardList(BaseModel):
    items: list[ModelCardOut]
