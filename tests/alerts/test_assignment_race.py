"""Two alerts opened at once at one institution go to two different least-loaded readers."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from app.alerts import repository as repo
from app.alerts.service import open_for_comparison
from app.db.models import Alert, Case, Comparison, Discrepancy, Report
from app.db.session import session_scope
from tests.conftest import DbUnderTest, Person, make_user
from tests.reports.factories import add_ai_results, glomeruli, make_case


def _signed_comparison(author: Person, number: str) -> tuple[int, int, int]:
    """(case, report, comparison) ids: a signed report compared with the AI, no alert yet."""
    case_id = make_case(institution_id=author.institution_id, number=number)
    add_ai_results(case_id=case_id, findings=glomeruli(7, cellular_crescent=4))
    with session_scope() as s:
        from app.assessment.service import current

        assessment = current(s, case_id=case_id)
        assert assessment is not None
        rep = Report(case_id=case_id, institution_id=author.institution_id, version=1, author_id=author.id,
                     status="signed", values={})
        s.add(rep)
        s.flush()
        comp = Comparison(case_id=case_id, institution_id=author.institution_id, report_id=rep.id,
                          assessment_id=assessment.id, pathologist_id=author.id, trigger="report_signed",
                          outcome="discrepant", pairs={})
        s.add(comp)
        s.flush()
        return case_id, rep.id, comp.id


def test_concurrent_alerts_are_not_both_given_to_the_same_reader(db: DbUnderTest, users: dict[str, Person],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    p3 = make_user("path3@h1.example")
    author = users["path1"]
    made = [_signed_comparison(author, f"R-{i}") for i in range(2)]
    real = repo.candidates

    def slow_candidates(session: Any, **kw: Any) -> Any:
        pool = real(session, **kw)
        time.sleep(0.4)  # widen the window between choosing the reader and inserting the alert
        return pool

    monkeypatch.setattr(repo, "candidates", slow_candidates)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def open_one(case_id: int, report_id: int, comparison_id: int) -> None:
        try:
            barrier.wait()
            with session_scope() as s:
                case, rep, comp = s.get(Case, case_id), s.get(Report, report_id), s.get(Comparison, comparison_id)
                assert case is not None and rep is not None and comp is not None
                open_for_comparison(s, case=case, comparison=comp, report=rep,
                                    majors=[Discrepancy(field="C", severity="major")], actor_id=author.id)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=m) for m in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope() as s:
        assignees = sorted(a.assignee_id for a in s.query(Alert).all())
    assert assignees == sorted([users["path2"].id, p3.id])
