"""The words of notifications and alert e-mails, in English and Japanese, from a kind and its parameters.

In-app notifications are stored as ``kind`` + ``params`` and phrased by the UI in the viewer's language
(``frontend/src/components/notificationText.ts``); the English title and body stored with them serve
API clients and rows written before the parameters existed. E-mails are phrased here, in the
recipient's ``User.locale``. The labels below are the UI's (``frontend/src/i18n/locales/*.json``,
``report.field`` and ``resolution``); a test keeps the two in step.
"""

from __future__ import annotations

from typing import Any, Literal

Locale = Literal["en", "ja"]

KINDS = ("alert_assigned", "alert_resolved", "alert_unassigned")

# Report fields (DOMAIN.md §4) as the Japanese UI names them; English messages keep the field codes.
FIELD_LABELS_JA: dict[str, str] = {
    "n_glomeruli": "糸球体数",
    "n_global_sclerosis": "全節性硬化",
    "n_segmental_sclerosis": "分節性硬化・癒着",
    "n_cellular_crescent": "細胞性半月体",
    "n_fibrocellular_crescent": "線維細胞性半月体",
    "n_fibrous_crescent": "線維性半月体",
    "n_endocapillary_hypercellularity": "管内細胞増多",
    "n_fibrinoid_necrosis": "フィブリノイド壊死",
    "M": "M（メサンギウム細胞増多）",
    "E": "E（管内細胞増多）",
    "S": "S（分節性硬化）",
    "T": "T（尿細管萎縮・間質線維化）",
    "C": "C（半月体）",
    "h_grade": "IgA腎症組織学的重症度（H-Grade）",
    "berden": "Berden 分類",
    "ln_class": "ループス腎炎分類",
    "dn_class": "糖尿病性腎症分類",
    "clinical_diagnosis": "臨床診断",
    "pathogenesis": "病因分類",
    "histopathology": "病型分類",
    "free_text": "コメント",
    "adequacy": "検体適正",
}

REASON_LABELS: dict[Locale, dict[str, str]] = {
    "en": {"ai_error": "AI error", "report_amended": "Report amended", "original_confirmed": "Original confirmed",
           "indeterminate": "Indeterminate"},
    "ja": {"ai_error": "AI の誤り", "report_amended": "報告書を改訂", "original_confirmed": "原報告を支持",
           "indeterminate": "判定保留"},
}


def locale_of(value: str | None) -> Locale:
    """``User.locale`` as one of the languages glomcheck speaks (English for anything else)."""
    return "ja" if (value or "").lower().startswith("ja") else "en"


def fields_text(fields: list[str], locale: Locale) -> str:
    if locale == "ja":
        return "、".join(FIELD_LABELS_JA.get(f, f) for f in fields)
    return ", ".join(fields)


def notification_text(kind: str, params: dict[str, Any], locale: Locale = "en") -> tuple[str, str]:
    """(title, body) of a notification of a known ``kind``; KeyError for an unknown one."""
    case = params.get("case_number", "?")
    if kind == "alert_assigned":
        fields = list(params.get("fields") or [])
        if locale == "ja":
            return f"二次読影の依頼: 症例 {case}", f"重大な不一致: {fields_text(fields, 'ja')}。"
        return f"Second read requested: case {case}", f"Major discrepancy in {fields_text(fields, 'en')}."
    if kind == "alert_unassigned":
        if locale == "ja":
            return f"二次読影者が未割当: 症例 {case}", "この施設には二次読影を担当できる他の病理医がいません。"
        return f"Second read needs a reader: case {case}", "No other pathologist of the institution is available."
    if kind == "alert_resolved":
        reason = str(params.get("reason", ""))
        if locale == "ja":
            return f"二次読影が解決: 症例 {case}", f"理由: {REASON_LABELS['ja'].get(reason, reason)}。"
        # The English body keeps the reason code, as it always has (API clients may parse it).
        return f"Second read resolved: case {case}", f"Reason: {reason}."
    raise KeyError(kind)


def alert_email(*, locale: Locale, case_number: str, fields: list[str], alert_id: int, url: str) -> tuple[str, str]:
    """(subject, body) of the e-mail asking a pathologist for a second read, in their language."""
    if locale == "ja":
        subject = f"[glomcheck] 二次読影の依頼: 症例 {case_number}"
        body = (
            f"症例 {case_number} の署名済み報告書と AI 評価の間に重大な不一致があります: {fields_text(fields, 'ja')}。\n"
            f"二次読影の担当に割り当てられました（アラート {alert_id}）。以下から確認してください。\n\n"
            f"{url}\n"
        )
        return subject, body
    subject = f"[glomcheck] Second read requested: case {case_number}"
    body = (
        f"A signed report of case {case_number} differs from the AI assessment in: {fields_text(fields, 'en')}.\n"
        f"You have been assigned the second read (alert {alert_id}).\n\n{url}\n"
    )
    return subject, body
