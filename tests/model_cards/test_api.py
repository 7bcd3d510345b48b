"""GET /api/models and /api/models/{name}: the shipped cards, file integrity, 404 for absent names."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.model_cards import service
from tests.conftest import Person, login


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "models"
    cls = root / "glom_classifier"
    cls.mkdir(parents=True)
    onnx = b"not really onnx"
    (cls / "model.onnx").write_bytes(onnx)
    (cls / "card.json").write_text(json.dumps({
        "name": "glom_classifier", "version": "9.9.9", "task": "glomerulus_multilabel_classification",
        "input": {"mpp": 2.0}, "classes": ["global_sclerosis", "cellular_crescent"], "stains": ["pas"],
        "thresholds": {"global_sclerosis": {"t_lo": 0.2, "t_hi": 0.6}, "cellular_crescent": {"t_lo": 0.1, "t_hi": 0.9}},
        "metrics": {"global_sclerosis": {"auc": 0.95, "n": 100, "calibration": {"ece": 0.1},
                                         "kappa_literature": {"kappa": 0.7, "source": "paper"}}},
        "synthetic_only": ["cellular_crescent"],
        "training_data": [{"what": "crops", "licence": "CC BY 4.0"}], "licence": "CC BY-NC-SA 4.0",
        "file": "model.onnx", "sha256": hashlib.sha256(onnx).hexdigest(),
    }))
    (cls / "CARD.md").write_text("# glom_classifier 9.9.9\n")
    bad = root / "tampered"
    bad.mkdir()
    (bad / "m.onnx").write_bytes(b"changed")
    (bad / "card.json").write_text(json.dumps({"name": "tampered-model", "version": "1", "file": "m.onnx",
                                               "sha256": "0" * 64}))
    (root / "training").mkdir()  # code, no card: not a model
    (root / "broken").mkdir()
    (root / "broken" / "card.json").write_text("{not json")
    monkeypatch.setattr(service, "MODELS_DIR", root)
    return root


def test_list_and_detail(app_client: TestClient, users: dict[str, Person], models_dir: Path) -> None:
    assert app_client.get("/api/models").status_code == 401
    login(app_client, users["path1"])
    items = {m["key"]: m for m in app_client.get("/api/models").json()["items"]}
    assert set(items) == {"glom_classifier", "tampered"}
    c = items["glom_classifier"]
    assert c["version"] == "9.9.9" and c["input_mpp"] == 2.0 and c["task"].startswith("glomerulus")
    assert c["file"]["present"] is True and c["file"]["sha256_matches"] is True
    gs, cres = c["classes"]
    assert gs["key"] == "global_sclerosis" and gs["t_hi"] == 0.6 and gs["metrics"]["auc"] == 0.95
    assert gs["metrics"]["kappa"] == 0.7 and "calibration" not in gs["metrics"] and gs["label_ja"] == "全節性硬化"
    assert cres["synthetic_only"] is True and c["synthetic_only"] == ["cellular_crescent"]
    assert c["licence"] == "CC BY-NC-SA 4.0" and c["training_data"][0]["licence"] == "CC BY 4.0"
    assert items["tampered"]["file"]["sha256_matches"] is False

    d = app_client.get("/api/models/glom_classifier").json()
    assert d["card_md"].startswith("# glom_classifier") and d["card"]["version"] == "9.9.9"
    assert app_client.get("/api/models/tampered-model").json()["key"] == "tampered"  # by card name too
    assert app_client.get("/api/models/tampered").json()["card_md"] is None
    r = app_client.get("/api/models/glom_detector")
    assert r.status_code == 404 and r.json()["error"] == "model_not_found"
    assert app_client.get("/api/models/training").status_code == 404  # a folder without a card


def test_shipped_cards_are_listed(app_client: TestClient, users: dict[str, Person]) -> None:
    """Whatever this checkout ships under models/ is listed, and each file matches its card."""
    login(app_client, users["admin"])
    items = app_client.get("/api/models").json()["items"]
    shipped = sorted(p.name for p in service.MODELS_DIR.iterdir() if (p / "card.json").is_file())
    assert sorted(m["key"] for m in items) == shipped
    for m in items:
        assert m["file"]["sha256_matches"] in (True, None), m["key"]
        assert app_client.get(f"/api/models/{m['key']}").status_code == 200
        # a shipped caveat always has a translation code, so the Japanese page never shows English alone
        if m["caveat"]:
            assert m["caveat_code"] == service.KNOWN_CARD_CAVEATS[m["caveat"]], m["key"]
        else:
            assert m["caveat_code"] is None
