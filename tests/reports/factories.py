"""Cases with AI results written through the ORM, as the worker would leave them."""

from __future__ import annotations

from typing import Any

from app.assessment import Finding
from app.db.models import AnalysisJob, Case, CaseState, Glomerulus, Institution, JobState, Slide
from app.db.session import session_scope

RELIABLE_CARD: dict[str, Any] = {
    "findings": {f.value: {"t_lo": 0.3, "t_hi": 0.7, "auc": 0.92, "kappa": 0.65} for f in Finding}
}


def make_case(*, institution_id: int, number: str = "C-1", state: str = CaseState.ai_ready.value) -> int:
    with session_scope() as s:
        case = Case(institution_id=institution_id, number=number, state=state)
        s.add(case)
        s.flush()
        return case.id


def glomeruli(n_normal: int = 0, **with_finding: int) -> list[dict[str, float]]:
    """``glomeruli(7, cellular_crescent=4)``: 7 normal glomeruli and 4 with a cellular crescent."""
    out = [dict.fromkeys((f.value for f in Finding), 0.05) for _ in range(n_normal)]
    for key, count in with_finding.items():
        for _ in range(count):
            probs = dict.fromkeys((f.value for f in Finding), 0.05)
            probs[key] = 0.95
            out.append(probs)
    return out


def add_ai_results(*, case_id: int, findings: list[dict[str, float]], card: dict[str, Any] | None = None,
                   stain: str = "pas", hook: bool = True) -> int:
    """One slide, one succeeded job with its glomeruli; then the hook the worker calls. Returns the job id."""
    from app.discrepancies.service import on_ai_results

    with session_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None
        n = len(s.query(Slide).filter(Slide.case_id == case_id).all())
        slide = Slide(case_id=case_id, institution_id=case.institution_id, display_name=f"s{n}.svs",
                      sha256=f"{case_id:04d}{n:060d}", storage_path="x", open_path="x", format="aperio",
                      width=1000, height=1000, level_count=1, stain=stain, bytes=1)
        s.add(slide)
        s.flush()
        job = AnalysisJob(slide_id=slide.id, institution_id=case.institution_id, state=JobState.succeeded.value,
                          model_versions={"detector": "det-1.0", "classifier": "cls-1.0"},
                          result={"model_card": card if card is not None else RELIABLE_CARD})
        s.add(job)
        s.flush()
        for i, probs in enumerate(findings):
            s.add(Glomerulus(job_id=job.id, slide_id=slide.id, index=i, polygon=[[0, 0], [10, 0], [10, 10]],
                             bbox_x0=i * 20, bbox_y0=0, bbox_x1=i * 20 + 10, bbox_y1=10, detection_score=0.9,
                             findings=probs, status="normal", flags=[]))
        if case.state in (CaseState.uploaded.value, CaseState.analyzing.value):
            case.state = CaseState.ai_ready.value
        s.flush()
        if hook:
            on_ai_results(s, case_id=case_id)
        return job.id


def institution_id(code: str = "H1") -> int:
    with session_scope() as s:
        return s.query(Institution).filter(Institution.code == code).one().id
