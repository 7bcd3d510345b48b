"""Rows the clinical, research and scoping tests need, written straight through the ORM."""

from __future__ import annotations

from typing import Any

from app.assessment import Finding
from app.db.base import utcnow
from app.db.models import AnalysisJob, Case, Glomerulus, JobState, Slide
from app.db.session import session_scope

FINDINGS = [f.value for f in Finding]


def institution_id(code: str) -> int:
    from app.auth.service import get_or_create_institution

    with session_scope() as s:
        return get_or_create_institution(s, code=code).id


def make_case(institution: str, number: str) -> int:
    inst = institution_id(institution)
    with session_scope() as s:
        c = Case(institution_id=inst, number=number)
        s.add(c)
        s.flush()
        return c.id


def make_slide(case_id: int, *, stain: str = "pas", name: str = "slide") -> int:
    with session_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None
        sl = Slide(case_id=case_id, institution_id=case.institution_id, display_name=name, sha256=f"{case_id:064d}"[-64:],
                   storage_path=f"s/{case_id}", open_path=f"s/{case_id}/x.svs", format="aperio", width=10000,
                   height=8000, level_count=1, level_dimensions=[[10000, 8000]], level_downsamples=[1.0], mpp_x=0.25,
                   mpp_y=0.25, stain=stain, bytes=1)
        s.add(sl)
        s.flush()
        return sl.id


# Thresholds and reliable metrics for every finding, as a model card would give them.
CARD: dict[str, Any] = {
    "findings": {f: {"t_lo": 0.3, "t_hi": 0.7, "auc": 0.92, "kappa": 0.65} for f in FINDINGS}
}


def add_analysis(slide_id: int, glomeruli: list[dict[str, Any]], *, state: str = JobState.succeeded.value,
                 assess: bool = True) -> int:
    """A finished job with glomeruli; each dict gives ``findings`` and optionally ``status``/``polygon``.

    A succeeded job is followed by the worker's hook (``on_ai_results``), which stores the case
    assessment the outlook and the export read; ``assess=False`` leaves the case without one.
    """
    from app.discrepancies.service import on_ai_results

    with session_scope() as s:
        slide = s.get(Slide, slide_id)
        assert slide is not None
        job = AnalysisJob(slide_id=slide_id, institution_id=slide.institution_id, state=state, finished_at=utcnow(),
                          model_versions={"detector": "test-1"}, result={"model_card": CARD})
        s.add(job)
        s.flush()
        for i, g in enumerate(glomeruli):
            x = 100 * i
            s.add(Glomerulus(job_id=job.id, slide_id=slide_id, index=i,
                             polygon=g.get("polygon", [[x, 0], [x + 80, 0], [x + 80, 80], [x, 80]]),
                             bbox_x0=x, bbox_y0=0, bbox_x1=x + 80, bbox_y1=80, area_um2=400.0, detection_score=0.9,
                             findings=g.get("findings", {}), status=g.get("status", "normal"), flags=g.get("flags", [])))
        s.flush()
        if assess and state == JobState.succeeded.value:
            on_ai_results(s, case_id=slide.case_id)
        return job.id


def standard_glomeruli(n: int = 12, *, gs: int = 3, crescents: int = 1, segmental: int = 1) -> list[dict[str, Any]]:
    """n assessable glomeruli: ``gs`` globally sclerosed, ``crescents`` with a cellular crescent, ``segmental`` S;
    every other finding clearly absent."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        f = dict.fromkeys(FINDINGS, 0.05)
        if i < gs:
            f["global_sclerosis"] = 0.95
        elif i < gs + crescents:
            f["cellular_crescent"] = 0.9
        elif i < gs + crescents + segmental:
            f["segmental_sclerosis"] = 0.8
        abnormal = any(p >= 0.7 for p in f.values())
        out.append({"findings": f, "status": "abnormal" if abnormal else "normal"})
    return out
