"""Admin reports (discrepancies, agreement, trends, CSV), audit-log listing, users, institutions, settings.

A site admin sees and manages only their own institution; a network admin reads across institutions.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.admin import stats
from app.admin.schemas import (
    AgreementStats,
    AuditPage,
    AuditRow,
    ChainStatus,
    DiscrepancyPage,
    DiscrepancyRow,
    MonthTrend,
    ScoreAgreement,
    SettingsIn,
    SettingsOut,
)
from app.assessment.service import (
    ASSESSMENT_SETTINGS_KEY,
    BLINDED_SETTINGS_KEY,
    blinded_read_enabled,
    institution_config,
    validate_overrides,
)
from app.audit.service import record, verify_chain_recent
from app.auth.service import create_user
from app.db.filters import scoped_period
from app.db.models import Alert, AuditEvent, Case, Comparison, Discrepancy, Institution, Report, Role, User
from app.discrepancies import repository as disc_repo
from app.discrepancies.service import SCORES, on_settings_changed, report_values, score_value
from app.errors import BadRequest, Conflict, Forbidden, NotFound


def scope(user: User, institution_id: int | None) -> list[int] | None:
    """Institutions the admin may read; None = all (network admin without a filter)."""
    if user.role == Role.network_admin.value:
        return [institution_id] if institution_id is not None else None
    if institution_id is not None and institution_id != user.institution_id:
        raise Forbidden("Site administrators see only their own institution.", code="other_institution")
    return [user.institution_id]


def _audit(session: Session, user: User, action: str, details: dict[str, Any], *,
           object_type: str | None = None, object_id: int | str | None = None) -> None:
    record(session, action, institution_id=user.institution_id, actor_user_id=user.id,
           object_type=object_type, object_id=object_id, details=details)


# --- discrepancies ------------------------------------------------------------------------------


def _discrepancy_rows(
    session: Session, *, institution_ids: list[int] | None, since: datetime | None, until: datetime | None,
    pathologist_id: int | None, finding: str | None, severity: str | None, state: str | None,
    include_superseded: bool, limit: int | None, offset: int,
) -> tuple[list[DiscrepancyRow], int]:
    base = disc_repo.filtered(institution_ids=institution_ids, since=since, until=until,
                              pathologist_id=pathologist_id, finding=finding, severity=severity,
                              current_only=not include_superseded).subquery()
    q = (
        select(base, Case.number.label("case_number"), User.email.label("pathologist_email"),
               Alert.id.label("alert_id"), Alert.state.label("alert_state"), Alert.reason.label("alert_reason"))
        .join(Case, Case.id == base.c.case_id)
        .join(User, User.id == base.c.pathologist_id)
        .outerjoin(Alert, Alert.comparison_id == base.c.comparison_id)
    )
    if state == "none":
        q = q.where(Alert.id.is_(None))
    elif state:
        q = q.where(Alert.state == state)
    total = session.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    q = q.order_by(base.c.created_at.desc(), base.c.id.desc()).offset(offset)
    if limit is not None:
        q = q.limit(limit)
    rows: list[DiscrepancyRow] = []
    for r in session.execute(q).mappings():
        rows.append(DiscrepancyRow(
            id=r["id"], created_at=r["created_at"], institution_id=r["institution_id"], case_id=r["case_id"],
            case_number=r["case_number"], pathologist_id=r["pathologist_id"], pathologist_email=r["pathologist_email"],
            field=r["field"], finding=r["finding"], severity=r["severity"], ai_value=r["ai_value"],
            pathologist_value=r["pathologist_value"], reliable=r["reliable"],
            evidence_glomerulus_ids=r["evidence_glomerulus_ids"] or [], alert_id=r["alert_id"],
            state=r["alert_state"] or "none", resolution_reason=r["alert_reason"], is_current=r["is_current"],
        ))
    return rows, int(total)


def list_discrepancies(session: Session, *, user: User, institution_id: int | None = None, **filters: Any) -> DiscrepancyPage:
    rows, total = _discrepancy_rows(session, institution_ids=scope(user, institution_id), **filters)
    _audit(session, user, "admin.discrepancies_viewed",
           {"filters": {k: v for k, v in filters.items() if v is not None}, "institution_id": institution_id})
    return DiscrepancyPage(items=rows, total=total)


CSV_COLUMNS = ("id", "created_at", "institution_id", "case_number", "pathologist_email", "field", "finding",
               "severity", "ai_value", "pathologist_value", "reliable", "evidence_glomerulus_ids", "alert_id",
               "state", "resolution_reason", "is_current")


def _cell(value: Any) -> Any:
    """JSON for lists, empty for None, and a leading quote on text a spreadsheet would run as a formula."""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def export_csv(session: Session, *, user: User, institution_id: int | None = None, **filters: Any) -> str:
    """Every matching discrepancy as CSV; the export itself is an audit event (who took what out)."""
    filters = {**filters, "limit": None, "offset": 0}
    rows, total = _discrepancy_rows(session, institution_ids=scope(user, institution_id), **filters)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in rows:
        d = r.model_dump(mode="json")
        w.writerow([_cell(d[c]) for c in CSV_COLUMNS])
    _audit(session, user, "admin.export",
           {"what": "discrepancies.csv", "rows": total, "institution_id": institution_id,
            "filters": {k: v for k, v in filters.items() if v is not None and k not in ("limit", "offset")}})
    return buf.getvalue()


# --- agreement ----------------------------------------------------------------------------------


def _score_rows(pairs_by_score: dict[str, list[tuple[Any, Any]]]) -> list[ScoreAgreement]:
    out = []
    for score in SCORES:
        a = stats.agreement(pairs_by_score.get(score, []))
        out.append(ScoreAgreement(score=score, n=a.n, percent_agreement=a.percent_agreement,
                                  percent_ci=a.percent_ci, kappa=a.kappa, kappa_ci=a.kappa_ci,
                                  labels=a.labels, matrix=a.matrix))
    return out


def agreement(session: Session, *, user: User, institution_id: int | None = None,
              since: datetime | None = None, until: datetime | None = None) -> AgreementStats:
    """κ and percent agreement per score over the current comparison of each case in the period."""
    ids = scope(user, institution_id)
    q = scoped_period(select(Comparison).where(Comparison.is_current.is_(True)),
                      institution_col=Comparison.institution_id, created_col=Comparison.created_at,
                      institution_ids=ids, since=since, until=until)
    comps = list(session.execute(q.order_by(Comparison.created_at)).scalars())

    ai_pairs: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    by_month: dict[str, list[Comparison]] = defaultdict(list)
    for c in comps:
        for score, p in (c.pairs or {}).items():
            ai_pairs[score].append((p["ai"], p["pathologist"]))
        by_month[c.created_at.strftime("%Y-%m")].append(c)

    severities: dict[int, list[str]] = defaultdict(list)
    if comps:
        for cid, severity in session.execute(
            select(Discrepancy.comparison_id, Discrepancy.severity)
            .where(Discrepancy.comparison_id.in_([c.id for c in comps]))
        ).all():
            severities[cid].append(severity)
    monthly = []
    for month, cs in sorted(by_month.items()):
        month_pairs: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
        for c in cs:
            for score, p in (c.pairs or {}).items():
                month_pairs[score].append((p["ai"], p["pathologist"]))
        sev = [x for c in cs for x in severities[c.id]]
        monthly.append(MonthTrend(
            month=month, comparisons=len(cs), discrepant=sum(1 for c in cs if c.outcome == "discrepant"),
            major=sev.count("major"), minor=sev.count("minor"), info=sev.count("info"),
            percent_agreement={k: stats.agreement(v).percent_agreement for k, v in sorted(month_pairs.items())},
        ))

    second_pairs: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    aq = scoped_period(
        select(Alert, Report).join(Report, Report.id == Alert.report_id).where(Alert.second_read.is_not(None)),
        institution_col=Alert.institution_id, created_col=Alert.created_at,
        institution_ids=ids, since=since, until=until)
    configs: dict[int, Any] = {}
    for alert, report in session.execute(aq).all():
        if alert.institution_id not in configs:
            inst = session.get(Institution, alert.institution_id)
            assert inst is not None
            configs[alert.institution_id] = institution_config(inst)
        cfg = configs[alert.institution_id]
        first, second = report_values(report.values), report_values(alert.second_read or {})
        for score in SCORES:
            a, b = score_value(score, first, cfg), score_value(score, second, cfg)
            if a is not None and b is not None:
                second_pairs[score].append((a, b))

    _audit(session, user, "admin.agreement_viewed",
           {"institution_id": institution_id, "since": since, "until": until})
    return AgreementStats(since=since, until=until, institution_ids=ids, comparisons=len(comps),
                          ai_vs_pathologist=_score_rows(ai_pairs),
                          pathologist_vs_second_reader=_score_rows(second_pairs), monthly=monthly)


# --- audit log ----------------------------------------------------------------------------------


def audit_log(session: Session, *, user: User, institution_id: int | None = None, action: str | None = None,
              object_type: str | None = None, object_id: str | None = None, actor_user_id: int | None = None,
              since: datetime | None = None, until: datetime | None = None, limit: int = 100,
              offset: int = 0) -> AuditPage:
    """Newest first, with the verification status of the whole chain (it is one chain for all sites)."""
    ids = scope(user, institution_id)
    q = select(AuditEvent)
    if ids is not None:
        q = q.where(AuditEvent.institution_id.in_(ids))
    if action:
        q = q.where(AuditEvent.action.startswith(action))
    if object_type:
        q = q.where(AuditEvent.object_type == object_type)
    if object_id:
        q = q.where(AuditEvent.object_id == object_id)
    if actor_user_id is not None:
        q = q.where(AuditEvent.actor_user_id == actor_user_id)
    if since is not None:
        q = q.where(AuditEvent.ts >= since)
    if until is not None:
        q = q.where(AuditEvent.ts < until)
    total = session.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    items = list(session.execute(q.order_by(AuditEvent.id.desc()).offset(offset).limit(limit)).scalars())
    chain = verify_chain_recent(session)
    page = AuditPage(items=[AuditRow.model_validate(e) for e in items], total=int(total),
                     chain=ChainStatus(ok=chain.ok, checked=chain.checked, first_bad_id=chain.first_bad_id,
                                       reason=chain.reason, full_walk_at=chain.full_walk_at))
    _audit(session, user, "admin.audit_viewed",
           {"filters": {"action": action, "object_type": object_type, "object_id": object_id,
                        "institution_id": institution_id}, "chain_ok": chain.ok})
    return page


# --- users, institutions, settings --------------------------------------------------------------


def _own(user: User, institution_id: int) -> None:
    if user.role != Role.network_admin.value and institution_id != user.institution_id:
        raise Forbidden("Site administrators manage only their own institution.", code="other_institution")


def _role(user: User, role: str) -> Role:
    try:
        r = Role(role)
    except ValueError as exc:
        raise BadRequest(f"Unknown role '{role}'.", code="invalid_role") from exc
    if r is Role.network_admin and user.role != Role.network_admin.value:
        raise Forbidden("Only a network administrator may grant the network_admin role.", code="network_admin_only")
    return r


def list_users(session: Session, *, user: User, institution_id: int | None = None) -> list[User]:
    ids = scope(user, institution_id)
    q = select(User)
    if ids is not None:
        q = q.where(User.institution_id.in_(ids))
    return list(session.execute(q.order_by(User.id)).scalars())


def create_admin_user(session: Session, *, user: User, email: str, password: str, display_name: str | None,
                      role: str, institution_id: int | None) -> User:
    inst_id = institution_id if institution_id is not None else user.institution_id
    _own(user, inst_id)
    inst = session.get(Institution, inst_id)
    if inst is None:
        raise NotFound(f"Institution {inst_id} does not exist.", code="institution_not_found")
    return create_user(session, email=email, password=password, institution_code=inst.code,
                       role=_role(user, role), display_name=display_name, actor_user_id=user.id)


def update_user(session: Session, *, user: User, user_id: int, changes: dict[str, Any]) -> User:
    target = session.get(User, user_id)
    if target is None or (user.role != Role.network_admin.value and target.institution_id != user.institution_id):
        raise NotFound(f"User {user_id} does not exist.", code="user_not_found")
    if "role" in changes and changes["role"] is not None:
        changes["role"] = _role(user, changes["role"]).value
    if target.id == user.id and (changes.get("is_active") is False or changes.get("role") not in (None, user.role)):
        raise Conflict("Administrators cannot disable or demote themselves.", code="self_demotion")
    before = {k: getattr(target, k) for k, v in changes.items() if v is not None}
    for k, v in changes.items():
        if v is not None:
            setattr(target, k, v)
    session.flush()
    _audit(session, user, "admin.user_updated", {"before": before, "after": {k: getattr(target, k) for k in before}},
           object_type="user", object_id=target.id)
    return target


def list_institutions(session: Session, *, user: User) -> list[Institution]:
    q = select(Institution)
    if user.role != Role.network_admin.value:
        q = q.where(Institution.id == user.institution_id)
    return list(session.execute(q.order_by(Institution.id)).scalars())


def create_institution(session: Session, *, user: User, code: str, name: str) -> Institution:
    if user.role != Role.network_admin.value:
        raise Forbidden("Only a network administrator creates institutions.", code="network_admin_only")
    if session.execute(select(Institution.id).where(Institution.code == code)).first():
        raise Conflict(f"Institution code {code} is taken.", code="institution_exists")
    inst = Institution(code=code, name=name, settings={})
    session.add(inst)
    session.flush()
    _audit(session, user, "admin.institution_created", {"code": code, "name": name},
           object_type="institution", object_id=inst.id)
    return inst


def _settings_out(inst: Institution, recomputed: Sequence[int] = ()) -> SettingsOut:
    return SettingsOut(
        institution_id=inst.id, blinded_first_read=blinded_read_enabled(inst),
        overrides=dict((inst.settings or {}).get(ASSESSMENT_SETTINGS_KEY) or {}),
        effective=institution_config(inst).model_dump(mode="json"), recomputed_case_ids=list(recomputed),
    )


def _institution(session: Session, *, user: User, institution_id: int) -> Institution:
    _own(user, institution_id)
    inst = session.get(Institution, institution_id)
    if inst is None:
        raise NotFound(f"Institution {institution_id} does not exist.", code="institution_not_found")
    return inst


def get_settings_of(session: Session, *, user: User, institution_id: int) -> SettingsOut:
    return _settings_out(_institution(session, user=user, institution_id=institution_id))


def update_settings(session: Session, *, user: User, institution_id: int, body: SettingsIn) -> SettingsOut:
    """Validate, store, audit, then recompute every assessment (and comparison) the change affects."""
    inst = _institution(session, user=user, institution_id=institution_id)
    before = dict(inst.settings or {})
    after = dict(before)
    if body.blinded_first_read is not None:
        after[BLINDED_SETTINGS_KEY] = body.blinded_first_read
    if body.assessment is not None:
        validate_overrides(body.assessment)
        after[ASSESSMENT_SETTINGS_KEY] = body.assessment
    inst.settings = after  # a new dict, so the JSON column is seen as changed
    session.flush()
    _audit(session, user, "admin.settings_changed", {"before": before, "after": after},
           object_type="institution", object_id=inst.id)
    recomputed: list[int] = []
    if before.get(ASSESSMENT_SETTINGS_KEY) != after.get(ASSESSMENT_SETTINGS_KEY):
        recomputed = on_settings_changed(session, institution_id=inst.id, actor_id=user.id)
    return _settings_out(inst, recomputed)
