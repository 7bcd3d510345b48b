"""Read the model cards shipped in the ``models`` package; a checkout may lack some, so list what exists."""

from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.assessment import LABELS, Finding
from app.errors import NotFound
from app.model_cards.schemas import ModelCardDetail, ModelCardList, ModelCardOut, ModelClass, ModelFile

log = logging.getLogger(__name__)

from app.config import MODELS_DIR


@lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed on size and mtime so a replaced file is hashed again, an unchanged one only once per process.
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# A card's caveat gets a code only when its exact words are known here, so the Japanese UI shows a
# translation of what the card says — never of an older or different card (the UI's strings
# `outlook.caveat.<code>`). A test fails when a shipped card's caveat has no entry.
KNOWN_CARD_CAVEATS: dict[str, str] = {
    "SYNTHETIC MODEL: fitted on a computer-generated cohort (models/training/cohort.py), not on patients. "
    "Its numbers demonstrate the pipeline only and must not inform the care of any patient.": "synthetic_cohort_v1",
}

def _card_dirs() -> list[Path]:
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p for p in MODELS_DIR.iterdir() if p.is_dir() and (p / "card.json").is_file())


def _load(folder: Path) -> dict[str, Any] | None:
    try:
        card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("model card %s/card.json cannot be read; skipped", folder.name, exc_info=True)
        return None
    return card if isinstance(card, dict) else None


def _scalars(d: Any) -> dict[str, Any]:
    if not isinstance(d, dict):
        return {}
    out = {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool)) or v is None}
    lit = d.get("kappa_literature")
    if "kappa" not in out and isinstance(lit, dict) and "kappa" in lit:
        out["kappa"] = lit["kappa"]
        out["kappa_source"] = lit.get("source")
    return out


def _classes(card: dict[str, Any]) -> list[ModelClass]:
    thresholds = card.get("thresholds") or {}
    metrics = card.get("metrics") or {}
    synthetic = set(card.get("synthetic_only") or [])
    keys = [str(k) for k in card.get("classes") or []] or [str(k) for k in thresholds]
    out = []
    for key in keys:
        th = thresholds.get(key) or {}
        label = LABELS.get(Finding(key)) if key in Finding.__members__ else None
        out.append(ModelClass(key=key, label_en=label.en if label else None, label_ja=label.ja if label else None,
                              t_lo=th.get("t_lo"), t_hi=th.get("t_hi"), synthetic_only=key in synthetic,
                              metrics=_scalars(metrics.get(key))))
    return out


def _file(folder: Path, card: dict[str, Any]) -> ModelFile:
    name = card.get("file")
    expected = card.get("sha256")
    path = folder / str(name) if isinstance(name, str) and "/" not in name and name not in ("", ".", "..") else None
    present = path is not None and path.is_file()
    matches: bool | None = None
    size = card.get("size_bytes")
    if present and path is not None:
        st = path.stat()
        size = st.st_size
        if isinstance(expected, str):
            matches = _sha256(str(path), st.st_size, st.st_mtime_ns) == expected.lower()
    elif isinstance(expected, str):
        matches = False
    return ModelFile(name=name if isinstance(name, str) else None, sha256=expected if isinstance(expected, str) else None,
                     size_bytes=size if isinstance(size, int) else None, present=present, sha256_matches=matches)


def _out(folder: Path, card: dict[str, Any]) -> ModelCardOut:
    mpp = card.get("input_mpp", (card.get("input") or {}).get("mpp") if isinstance(card.get("input"), dict) else None)
    classes = {str(c) for c in card.get("classes") or []}
    metrics = {k: v for k, v in (card.get("metrics") or {}).items() if k not in classes}
    if isinstance(card.get("metrics_held_out"), dict):
        metrics["held_out"] = card["metrics_held_out"]
    training = card.get("training_data")
    if training is None and isinstance(card.get("cohort"), dict):
        training = [card["cohort"]]
    return ModelCardOut(
        key=folder.name, name=str(card.get("name") or folder.name),
        version=None if card.get("version") is None else str(card["version"]), task=card.get("task"),
        input_mpp=float(mpp) if isinstance(mpp, (int, float)) else None,
        stains=[str(s) for s in card.get("stains") or []], classes=_classes(card),
        synthetic_only=[str(s) for s in card.get("synthetic_only") or []],
        synthetic_cohort=bool(card.get("synthetic_cohort")), caveat=card.get("caveat"),
        caveat_code=KNOWN_CARD_CAVEATS.get(str(card.get("caveat") or "")),
        training_data=[t for t in training or [] if isinstance(t, dict)], licence=card.get("licence"),
        metrics=metrics, file=_file(folder, card), created=card.get("created") or card.get("created_at"),
    )


def list_cards() -> ModelCardList:
    """Every readable card under models/, by folder name."""
    items = []
    for folder in _card_dirs():
        card = _load(folder)
        if card is not None:
            items.append(_out(folder, card))
    return ModelCardList(items=items)


def get_card(name: str) -> ModelCardDetail:
    """One card by folder name or by the card's own name, with its CARD.md; 404 if not shipped."""
    for folder in _card_dirs():
        card = _load(folder)
        if card is None or name not in (folder.name, str(card.get("name") or "")):
            continue
        md = folder / "CARD.md"
        text = md.read_text(encoding="utf-8") if md.is_file() else None
        return ModelCardDetail(**_out(folder, card).model_dump(), card=card, card_md=text)
    raise NotFound(f"No model card named {name!r} is shipped with this installation.", code="model_not_found")
