from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.clinical.factories import add_analysis, make_case, make_slide, standard_glomeruli
from tests.clinical.test_clinical_api import BASELINE
from tests.conftest import Person, login, set_blinded_read


@pytest.fixture(autouse=True)
def _unblinded(users: dict[str, Person]) -> None:
    """These tests read the outlook before any report is signed; blinding is tested below."""
    set_blinded_read(users["path1"].institution_id, False)


def test_blinded_reader_gets_no_outlook_before_signing(app_client: TestClient, users: dict[str, Person]) -> None:
    set_blinded_read(users["path1"].institution_id, True)
    cid = make_case("H1", "H1-0009")
    add_analysis(make_slide(cid), standard_glomeruli(12, gs=3))
    login(app_client, users["path1"])
    r = app_client.put(f"/api/cases/{cid}/clinical", json=BASELINE)
    assert r.status_code == 200, r.text  # clinical data itself is not an AI result
    r = app_client.get(f"/api/cases/{cid}/proteinuria-outlook")
    assert r.status_code == 403 and r.json()["error"] == "blinded_first_read"


def test_cannot_predict_lists_missing_inputs(app_client: TestClient, users: dict[str, Person]) -> None:
    cid = make_case("H1", "H1-0001")
    login(app_client, users["path1"])
    r = app_client.get(f"/api/cases/{cid}/proteinuria-outlook")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["computable"] is False and body["prediction_g_per_day"] is None and body["interval_g_per_day"] is None
    assert "pct_global_sclerosis" in body["missing"] and "egfr" in body["missing"]
    assert body["synthetic_cohort"] is True and "SYNTHETIC" in body["caveat"]
    # Clinical data alone is not enough: the glomerular assessment is still missing.
    app_client.put(f"/api/cases/{cid}/clinical", json=BASELINE)
    body = app_client.get(f"/api/cases/{cid}/proteinuria-outlook").json()
    assert body["computable"] is False
    assert set(body["missing"]) == {"pct_global_sclerosis", "pct_crescent", "oxford_m", "oxford_e", "oxford_s"}


def test_too_few_glomeruli_for_oxford_cannot_predict(app_client: TestClient, users: dict[str, Person]) -> None:
    cid = make_case("H1", "H1-0002")
    add_analysis(make_slide(cid), standard_glomeruli(7, gs=1))  # %GS needs 7 assessable, Oxford 8
    login(app_client, users["path1"])
    app_client.put(f"/api/cases/{cid}/clinical", json=BASELINE)
    body = app_client.get(f"/api/cases/{cid}/proteinuria-outlook").json()
    assert body["computable"] is False and body["missing"] == ["oxford_m", "oxford_e", "oxford_s"]
    assert body["inputs"]["pct_global_sclerosis"] == round(100 / 7, 1)


def test_below_every_minimum_nothing_glomerular_is_guessed(app_client: TestClient, users: dict[str, Person]) -> None:
    cid = make_case("H1", "H1-0004")
    add_analysis(make_slide(cid), standard_glomeruli(6, gs=1))
    login(app_client, users["path1"])
    app_client.put(f"/api/cases/{cid}/clinical", json=BASELINE)
    body = app_client.get(f"/api/cases/{cid}/proteinuria-outlook").json()
    assert body["missing"] == ["pct_global_sclerosis", "oxford_m", "oxford_e", "oxford_s"]
    assert body["inputs"]["pct_crescent"] == round(100 / 6, 1)  # the crescent % is always reported


def test_inputs_come_from_the_stored_assessment_not_from_raw_glomeruli(app_client: TestClient,
                                                                        users: dict[str, Person]) -> None:
    from app.db.models import CaseAssessment
    from app.db.session import session_scope

    cid = make_case("H1", "H1-0005")
    slide = make_slide(cid)
    add_analysis(slide, standard_glomeruli(12, gs=3), assess=False)
    login(app_client, users["path1"])
    app_client.put(f"/api/cases/{cid}/clinical", json=BASELINE)
    body = app_client.get(f"/api/cases/{cid}/proteinuria-outlook").json()
    assert body["inputs"]["glomerular"] is None and "pct_global_sclerosis" in body["missing"]
    add_analysis(slide, standard_glomeruli(12, gs=6))  # a newer analysis, this time assessed
    body = app_client.get(f"/api/cases/{cid}/proteinuria-outlook").json()
    with session_scope() as s:
        newest = s.query(CaseAssessment).filter(CaseAssessment.case_id == cid).order_by(CaseAssessment.id.desc()).first()
        assert newest is not None
        assert body["inputs"]["glomerular"]["assessment_id"] == newest.id
    assert body["computable"] is True and body["inputs"]["glomerular"]["rules_version"]
    assert body["inputs"]["pct_global_sclerosis"] == 50.0


def test_prediction_uses_latest_succeeded_analysis(app_client: TestClient, users: dict[str, Person]) -> None:
    cid = make_case("H1", "H1-0003")
    slide = make_slide(cid)
    add_analysis(slide, standard_glomeruli(12, gs=0))
    add_analysis(slide, standard_glomeruli(12, gs=3, crescents=2))  # newer: this one counts
    add_analysis(slide, standard_glomeruli(12, gs=12), state="failed")  # failed: ignored
    login(app_client, users["path1"])
    app_client.put(f"/api/cases/{cid}/clinical", json=BASELINE)
    body = app_client.get(f"/api/cases/{cid}/proteinuria-outlook").json()
    assert body["computable"] is True, body
    iv = body["interval_g_per_day"]
    assert iv["low"] <= body["prediction_g_per_day"] <= iv["high"] and iv["level"] == 0.8
    assert body["inputs"]["pct_global_sclerosis"] == 25.0 and body["inputs"]["pct_crescent"] == round(200 / 12, 1)
    assert body["inputs"]["oxford_s"] == 1 and body["inputs"]["glomerular"]["n_assessable"] == 12
    assert body["model"]["version"].endswith("+synthetic") and body["model"]["synthetic_cohort"] is True
    assert "SYNTHETIC" in body["caveat"]


def test_caveat_comes_as_codes_the_ui_can_phrase(app_client: TestClient, users: dict[str, Person]) -> None:
    cid = make_case("H1", "H1-0010")
    login(app_client, users["path1"])
    body = app_client.get(f"/api/cases/{cid}/proteinuria-outlook").json()
    assert body["caveat_data"] == [{"code": "synthetic_cohort_v1"}, {"code": "research_estimate", "months": 12}]
    assert body["caveat"].startswith("SYNTHETIC MODEL")  # the English sentence stays for API clients


def test_shipped_card_caveat_has_a_translation_that_says_synthetic() -> None:
    """If the card's caveat changes, the UI falls back to its English words until this table and the
    UI's outlook.caveat strings are updated with a faithful Japanese translation."""
    import json
    from pathlib import Path

    from app.clinical.outlook import GENERIC_CAVEAT, HORIZON_MONTHS, KNOWN_CARD_CAVEATS

    root = Path(__file__).resolve().parents[2]
    card = json.loads((root / "models" / "proteinuria" / "card.json").read_text(encoding="utf-8"))
    code = KNOWN_CARD_CAVEATS.get(card["caveat"])
    assert code, "models/proteinuria/card.json has a new caveat: add it (and its Japanese) to KNOWN_CARD_CAVEATS"
    locales = root / "frontend" / "src" / "i18n" / "locales"
    en = json.loads((locales / "en.json").read_text(encoding="utf-8"))["outlook"]["caveat"]
    ja = json.loads((locales / "ja.json").read_text(encoding="utf-8"))["outlook"]["caveat"]
    assert en[code] == card["caveat"]
    assert en["research_estimate"].replace("{{months}}", str(HORIZON_MONTHS)) == GENERIC_CAVEAT
    assert "合成" in ja[code] and "患者ではなく" in ja[code] and "診療にも用いてはなりません" in ja[code]
    assert "臨床判断に代わるものではありません" in ja["research_estimate"]


def test_unknown_card_caveat_is_passed_on_as_written() -> None:
    from app.clinical.outlook import caveat_data

    parts = caveat_data(card_caveat="SYNTHETIC v2: another cohort.", synthetic=True, horizon_months=12)
    assert parts == [{"code": "card_text", "text": "SYNTHETIC v2: another cohort."},
                     {"code": "research_estimate", "months": 12}]
    assert caveat_data(card_caveat="x", synthetic=False, horizon_months=12) == [
        {"code": "research_estimate", "months": 12}]
