"""Model cards of the shipped models, for every logged-in user (UI: admin Models page, AI tab links)."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import CurrentUser
from app.model_cards import service
from app.model_cards.schemas import ModelCardDetail, ModelCardList

router = APIRouter(prefix="/api/models", tags=["models"])


@router.get("", response_model=ModelCardList, operation_id="listModels")
def list_models(user: CurrentUser) -> ModelCardList:
    """Every model card present in this installation: task, data, licence, metrics and thresholds per class,
    synthetic-only findings, and whether the model file on disk matches the card's SHA-256."""
    return service.list_cards()


@router.get("/{name}", response_model=ModelCardDetail, operation_id="getModel")
def get_model(name: str, user: CurrentUser) -> ModelCardDetail:
    """One model card (by folder or card name) with the full card.json and the CARD.md text."""
    return service.get_card(name)
