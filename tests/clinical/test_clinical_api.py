from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from app.clinical.fields import egfr_japanese
from tests.clinical.factories import make_case
from tests.conftest import Person, login

BASELINE: dict[str, Any] = {
    "biopsy_date": "2025-03-01", "age_years": 50, "sex": "female", "clinical_diagnosis": "chronic nephritic syndrome",
    "history": "hypertension since 2019", "systolic_bp_mmhg": 138, "diastolic_bp_mmhg": 86, "creatinine_mg_dl": 1.2,
    "urinary_protein": 1.8, "urinary_protein_unit": "g/day", "haematuria": "2+",
}


def test_egfr_japanese_equation() -> None:
    # 194 × 1.0^−1.094 × 50^−0.287 = 63.4 (male); × 0.739 = 46.9 (female)
    assert egfr_japanese(1.0, 50, "male") == pytest.approx(194 * 50 ** -0.287, abs=0.05)
    assert egfr_japanese(1.0, 50, "female") == pytest.approx(194 * 50 ** -0.287 * 0.739, abs=0.05)
    assert egfr_japanese(1.0, 12, "male") is None  # adults only
    assert egfr_japanese(None, 50, "male") is None


@given(cr=st.floats(0.1, 30), age=st.integers(18, 120))
@settings(max_examples=200, deadline=None)
def test_egfr_is_monotone_and_female_lower(cr: float, age: int) -> None:
    m, f = egfr_japanese(cr, age, "male"), egfr_japanese(cr, age, "female")
    assert m is not None and f is not None and f <= m
    higher = egfr_japanese(cr * 1.1, age, "male")
    assert higher is not None and higher <= m


def test_put_get_computes_egfr_with_units(app_client: TestClient, users: dict[str, Person]) -> None:
    cid = make_case("H1", "H1-0001")
    login(app_client, users["path1"])
    empty = app_client.get(f"/api/cases/{cid}/clinical")
    assert empty.status_code == 200 and empty.json()["recorded"] is False
    r = app_client.put(f"/api/cases/{cid}/clinical", json=BASELINE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["recorded"] is True
    assert body["egfr"] == egfr_japanese(1.2, 50, "female") == pytest.approx(38.2, abs=0.05)
    assert body["egfr_unit"] == "mL/min/1.73 m²" and body["units"]["creatinine_mg_dl"] == "mg/dL"
    assert app_client.get(f"/api/cases/{cid}/clinical").json()["egfr"] == body["egfr"]


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("systolic_bp_mmhg", 400, "50–300 mmHg"),
    ("creatinine_mg_dl", 106.0, "µmol/L"),
    ("age_years", 150, "0–120 years"),
    ("urinary_protein", 1800, "g/day or g/gCr"),
    ("diastolic_bp_mmhg", 150, "lower than systolic"),
])
def test_implausible_values_are_422_naming_field_and_range(app_client: TestClient, users: dict[str, Person],
                                                           field: str, value: Any, needle: str) -> None:
    cid = make_case("H1", "H1-0002")
    login(app_client, users["path1"])
    r = app_client.put(f"/api/cases/{cid}/clinical", json={**BASELINE, field: value})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "implausible_value"
    assert any(e["field"] == field for e in body["errors"]) and needle in body["detail"]
    assert app_client.get(f"/api/cases/{cid}/clinical").json()["recorded"] is False


def test_unknown_field_and_bad_unit_are_422(app_client: TestClient, users: dict[str, Person]) -> None:
    cid = make_case("H1", "H1-0003")
    login(app_client, users["path1"])
    assert app_client.put(f"/api/cases/{cid}/clinical", json={**BASELINE, "egfr": 90}).status_code == 422
    r = app_client.put(f"/api/cases/{cid}/clinical", json={**BASELINE, "urinary_protein_unit": "mg/day"})
    assert r.status_code == 422 and "urinary_protein_unit" in r.json()["detail"]
    r = app_client.put(f"/api/cases/{cid}/clinical", json={**BASELINE, "urinary_protein_unit": None})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "urinary_protein_unit"


def test_followups_with_dates_and_aged_egfr(app_client: TestClient, users: dict[str, Person]) -> None:
    cid = make_case("H1", "H1-0004")
    login(app_client, users["path1"])
    app_client.put(f"/api/cases/{cid}/clinical", json=BASELINE)
    r = app_client.post(f"/api/cases/{cid}/clinical/followups",
                        json={"measured_on": "2026-03-01", "creatinine_mg_dl": 1.2, "urinary_protein": 0.9,
                              "urinary_protein_unit": "g/gCr"})
    assert r.status_code == 201, r.text
    fu = r.json()
    assert fu["days_after_biopsy"] == 365
    assert fu["egfr"] == egfr_japanese(1.2, 50 + 365 / 365.25, "female")
    dup = app_client.post(f"/api/cases/{cid}/clinical/followups", json={"measured_on": "2026-03-01"})
    assert dup.status_code == 409
    early = app_client.post(f"/api/cases/{cid}/clinical/followups", json={"measured_on": "2024-01-01"})
    assert early.status_code == 422 and "before the biopsy" in early.json()["detail"]
    got = app_client.get(f"/api/cases/{cid}/clinical").json()
    assert [f["measured_on"] for f in got["followups"]] == ["2026-03-01"]


def test_other_institution_is_404_for_read_and_write(app_client: TestClient, users: dict[str, Person]) -> None:
    mine = make_case("H1", "H1-0005")
    theirs = make_case("H2", "H2-0001")
    login(app_client, users["other"])  # pathologist at H2
    app_client.put(f"/api/cases/{theirs}/clinical", json=BASELINE)
    app_client.post("/api/auth/logout")
    for role in ("path1", "admin"):
        login(app_client, users[role])
        assert app_client.get(f"/api/cases/{theirs}/clinical").status_code == 404
        assert app_client.put(f"/api/cases/{theirs}/clinical", json=BASELINE).status_code == 404
        assert app_client.post(f"/api/cases/{theirs}/clinical/followups",
                               json={"measured_on": "2026-01-01"}).status_code == 404
        assert app_client.get(f"/api/cases/{theirs}/proteinuria-outlook").status_code == 404
        assert app_client.get(f"/api/cases/{mine}/clinical").status_code == 200
        app_client.post("/api/auth/logout")


def test_field_catalogue_for_the_ui(app_client: TestClient, users: dict[str, Person]) -> None:
    assert app_client.get("/api/clinical/fields").status_code == 401
    login(app_client, users["path1"])
    cat = {f["field"]: f for f in app_client.get("/api/clinical/fields").json()}
    assert cat["systolic_bp_mmhg"]["unit"] == "mmHg" and cat["systolic_bp_mmhg"]["max"] == 300
    assert cat["urinary_protein_unit"]["choices"] == ["g/day", "g/gCr"]
    assert cat["egfr"]["computed"] is True
