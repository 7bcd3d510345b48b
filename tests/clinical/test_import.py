from __future__ import annotations

from fastapi.testclient import TestClient

from tests.clinical.factories import make_case
from tests.conftest import Person, login

HEADER = ("case_number,record,biopsy_date,age_years,sex,systolic_bp_mmhg,diastolic_bp_mmhg,creatinine_mg_dl,"
          "urinary_protein,urinary_protein_unit,haematuria,measured_on,note\n")
GOOD = HEADER + (
    "H1-0001,,2025-01-10,45,male,130,80,1.1,1.5,g/day,1+,,\n"
    "H1-0002,baseline,2025-02-01,62,female,150,90,2.0,3.2,g/gCr,-,,\n"
    "H1-0001,,,,,128,78,1.0,0.8,g/day,,2025-07-10,6 months\n"
    "H1-0001,followup,,,,,,1.0,0.5,g/day,,2026-01-10,\n"
)


def _cases() -> None:
    make_case("H1", "H1-0001")
    make_case("H1", "H1-0002")
    make_case("H2", "H2-0001")


def test_import_many_cases_text_csv(app_client: TestClient, users: dict[str, Person]) -> None:
    _cases()
    login(app_client, users["path1"])
    r = app_client.post("/api/clinical/import", content=GOOD, headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json() == {"n_rows": 4, "baseline_upserted": 2, "followups_written": 2,
                        "case_numbers": ["H1-0001", "H1-0002"]}
    cases = app_client.get("/api/cases/1/clinical").json()
    assert cases["age_years"] == 45 and cases["egfr"] is not None
    assert [f["days_after_biopsy"] for f in cases["followups"]] == [181, 365]
    # Re-importing the same file is idempotent (follow-ups keyed by date).
    again = app_client.post("/api/clinical/import", content=GOOD, headers={"content-type": "text/csv"})
    assert again.status_code == 200
    assert len(app_client.get("/api/cases/1/clinical").json()["followups"]) == 2


def test_import_multipart(app_client: TestClient, users: dict[str, Person]) -> None:
    _cases()
    login(app_client, users["admin"])
    r = app_client.post("/api/clinical/import", files={"file": ("clinical.csv", GOOD.encode(), "text/csv")})
    assert r.status_code == 200, r.text


def test_one_bad_row_imports_nothing_and_reports_every_row(app_client: TestClient, users: dict[str, Person]) -> None:
    _cases()
    login(app_client, users["path1"])
    bad = GOOD + (
        "H1-9999,,2025-01-01,40,male,120,70,1.0,1.0,g/day,,,\n"          # unknown case
        "H2-0001,,2025-01-01,40,male,120,70,1.0,1.0,g/day,,,\n"          # another institution's case
        "H1-0002,followup,,,,400,70,abc,1.0,g/day,,2025-13-01,\n"        # BP, creatinine, date
        "H1-0002,followup,,,,,,,,,,2024-01-01,\n"                        # before the biopsy in this file
    )
    r = app_client.post("/api/clinical/import", content=bad, headers={"content-type": "text/csv"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "csv_invalid" and body["n_bad_rows"] == 4 and "nothing was imported" in body["detail"]
    by_line = {row["line"]: {e["field"] for e in row["errors"]} for row in body["rows"]}
    assert by_line == {6: {"case_number"}, 7: {"case_number"}, 8: {"systolic_bp_mmhg", "creatinine_mg_dl",
                                                                   "measured_on"}, 9: {"measured_on"}}
    # Nothing from the good rows was stored either.
    assert app_client.get("/api/cases/1/clinical").json()["recorded"] is False
    assert app_client.get("/api/cases/2/clinical").json()["recorded"] is False


def test_header_and_media_errors(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    r = app_client.post("/api/clinical/import", content="case_number,creatinine\nH1-1,1.0\n",
                        headers={"content-type": "text/csv"})
    assert r.status_code == 400 and r.json()["unknown_columns"] == ["creatinine"]
    assert app_client.post("/api/clinical/import", json={"a": 1}).status_code == 415
    assert app_client.post("/api/clinical/import", content=b"\xff\xfe", headers={"content-type": "text/csv"}).status_code == 400
    assert app_client.post("/api/clinical/import", content="case_number\n",
                           headers={"content-type": "text/csv"}).status_code == 400


def test_duplicate_rows_in_one_file(app_client: TestClient, users: dict[str, Person]) -> None:
    _cases()
    login(app_client, users["path1"])
    dup = HEADER + "H1-0001,,,45,male,,,,,,,,\nH1-0001,,,46,male,,,,,,,,\n"
    r = app_client.post("/api/clinical/import", content=dup, headers={"content-type": "text/csv"})
    assert r.status_code == 422 and r.json()["rows"][0]["line"] == 3


def test_import_is_audited(app_client: TestClient, users: dict[str, Person]) -> None:
    from sqlalchemy import select

    from app.db.models import AuditEvent
    from app.db.session import session_scope

    _cases()
    login(app_client, users["path1"])
    app_client.post("/api/clinical/import", content=GOOD, headers={"content-type": "text/csv"})
    with session_scope() as s:
        ev = s.execute(select(AuditEvent).where(AuditEvent.action == "clinical.imported")).scalar_one()
        assert ev.details["n_rows"] == 4 and ev.actor_user_id == users["path1"].id
