from __future__ import annotations

import csv
import io
import json
import zipfile

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db.models import AuditEvent
from app.db.session import session_scope
from tests.clinical.factories import add_analysis, make_case, make_slide, standard_glomeruli
from tests.clinical.test_clinical_api import BASELINE
from tests.conftest import Person, login, make_user


def _world(app_client: TestClient, users: dict[str, Person]) -> dict[str, int]:
    h1 = make_case("H1", "H1-SECRET-1")
    h2 = make_case("H2", "H2-SECRET-1")
    s1 = make_slide(h1, name="Tanaka Taro 2025-01-01.svs")
    add_analysis(s1, standard_glomeruli(10, gs=2))
    make_slide(h2)
    login(app_client, users["path1"])
    app_client.put(f"/api/cases/{h1}/clinical", json={**BASELINE, "age_years": 93,
                                                     "history": "lives at 1-2-3 Chiyoda, Tokyo"})
    app_client.post(f"/api/cases/{h1}/clinical/followups", json={"measured_on": "2025-09-01", "creatinine_mg_dl": 1.1,
                                                                 "note": "Dr Suzuki called"})
    app_client.post("/api/auth/logout")
    return {"h1": h1, "h2": h2, "s1": s1}


def _zip(r: object) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(r.content))  # type: ignore[attr-defined]


def _rows(zf: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(zf.read(name).decode())))


def test_site_admin_exports_own_institution_deidentified(app_client: TestClient, users: dict[str, Person]) -> None:
    w = _world(app_client, users)
    login(app_client, users["admin"])
    r = app_client.get("/api/research/export")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip" and "attachment" in r.headers["content-disposition"]
    zf = _zip(r)
    names = zf.namelist()
    assert {"manifest.json", "cases.csv", "followups.csv", "slides.csv", "assessments.csv"} <= set(names)
    cases = _rows(zf, "cases.csv")
    assert len(cases) == 1 and cases[0]["site"] == "H1" and cases[0]["age_years"] == "90+"
    assert cases[0]["biopsy_month"] == "2025-03" and cases[0]["egfr_ml_min_1_73m2"]
    blob = b"".join(zf.read(n) for n in names)
    for leak in (b"H1-SECRET-1", b"H2-SECRET", b"Tanaka", b"Chiyoda", b"Suzuki", b"2025-03-01"):
        assert leak not in blob, leak
    fups = _rows(zf, "followups.csv")
    assert fups[0]["days_after_biopsy"] == str(184)
    assess = _rows(zf, "assessments.csv")
    assert assess[0]["n_assessable"] == "10" and assess[0]["pct_global_sclerosis"] == "20.0"
    # From the stored case assessment: its rules version, Oxford with C, the slide behind it.
    assert assess[0]["rules_version"] and assess[0]["oxford_s"] == "1" and assess[0]["oxford_c"] == "1"
    assert assess[0]["n_global_sclerosis"] == "2" and assess[0]["adequacy"] == "adequate"
    assert assess[0]["research_slide_id"] == _rows(zf, "slides.csv")[0]["research_slide_id"]
    slides = _rows(zf, "slides.csv")
    geo = json.loads(zf.read(slides[0]["geojson"]))
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 10
    ring = geo["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and geo["features"][0]["properties"]["objectType"] == "annotation"
    assert geo["features"][0]["properties"]["classification"]["name"].startswith("Glomerulus: ")
    # Stable research ids across exports; audited every time.
    again = _zip(app_client.get("/api/research/export"))
    assert _rows(again, "cases.csv")[0]["research_case_id"] == cases[0]["research_case_id"]
    with session_scope() as s:
        evs = list(s.execute(select(AuditEvent).where(AuditEvent.action == "research.export")).scalars())
        assert len(evs) == 2 and evs[0].details["institutions"] == ["H1"] and evs[0].details["cases"] == 1
    assert w["h2"]


def test_site_admin_cannot_export_other_institution(app_client: TestClient, users: dict[str, Person]) -> None:
    _world(app_client, users)
    login(app_client, users["admin"])
    assert app_client.get("/api/research/export", params={"institution": "H2"}).status_code == 403
    assert app_client.get("/api/research/export", params={"institution": "H1"}).status_code == 200


def test_pathologist_forbidden_anonymous_401(app_client: TestClient, users: dict[str, Person]) -> None:
    assert app_client.get("/api/research/export").status_code == 401
    login(app_client, users["path1"])
    assert app_client.get("/api/research/export").status_code == 403


def test_network_admin_exports_across_institutions_and_filters(app_client: TestClient,
                                                               users: dict[str, Person]) -> None:
    _world(app_client, users)
    net = make_user("net@network.example", institution="NET", role="network_admin")
    login(app_client, net)
    sites = {r["site"] for r in _rows(_zip(app_client.get("/api/research/export")), "cases.csv")}
    assert sites == {"H1", "H2"}
    only_h2 = _rows(_zip(app_client.get("/api/research/export", params={"institution": "H2"})), "cases.csv")
    assert {r["site"] for r in only_h2} == {"H2"}
    # Period: H1's case has biopsy 2025-03-01; H2's falls back to its creation date (today).
    march = _rows(_zip(app_client.get("/api/research/export", params={"from": "2025-03-01", "to": "2025-03-31"})),
                  "cases.csv")
    assert [r["site"] for r in march] == ["H1"]
    assert app_client.get("/api/research/export", params={"from": "2025-04-01", "to": "2025-03-01"}).status_code == 400
    assert app_client.get("/api/research/export", params={"institution": "NOPE"}).status_code == 404
    assert app_client.get("/api/research/export", params={"from": "yesterday"}).status_code == 422
