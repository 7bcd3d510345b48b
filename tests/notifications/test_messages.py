"""Notification and alert e-mail wording, English and Japanese (pure; no database)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from app.notifications.messages import (
    FIELD_LABELS_JA,
    KINDS,
    REASON_LABELS,
    alert_email,
    locale_of,
    notification_text,
)

LOCALES = Path(__file__).resolve().parents[2] / "frontend" / "src" / "i18n" / "locales"


def ui(lang: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8")))


def test_english_words_are_the_ones_notifications_always_had() -> None:
    """API clients and old rows see the same English title and body as before the params existed."""
    assert notification_text("alert_assigned", {"case_number": "A1", "fields": ["C", "n_cellular_crescent"]}) == (
        "Second read requested: case A1", "Major discrepancy in C, n_cellular_crescent.")
    assert notification_text("alert_unassigned", {"case_number": "B1"}) == (
        "Second read needs a reader: case B1", "No other pathologist of the institution is available.")
    assert notification_text("alert_resolved", {"case_number": "R1", "reason": "ai_error"}) == (
        "Second read resolved: case R1", "Reason: ai_error.")


def test_japanese_words_use_the_ui_terms() -> None:
    title, body = notification_text("alert_assigned", {"case_number": "A1", "fields": ["C", "n_global_sclerosis"]}, "ja")
    assert title == "二次読影の依頼: 症例 A1"
    assert body == "重大な不一致: C（半月体）、全節性硬化。"
    title, body = notification_text("alert_resolved", {"case_number": "R1", "reason": "original_confirmed"}, "ja")
    assert title == "二次読影が解決: 症例 R1" and body == "理由: 原報告を支持。"
    # An unknown field or reason is shown as its code rather than dropped.
    assert notification_text("alert_assigned", {"case_number": "A2", "fields": ["new_field"]}, "ja")[1] == "重大な不一致: new_field。"
    with pytest.raises(KeyError):
        notification_text("something_else", {}, "ja")


def test_labels_match_the_ui_and_every_kind_is_phrased_by_the_ui() -> None:
    """The e-mail's Japanese labels are the UI's, and the UI has a phrasing for every kind the server writes."""
    ja, en = ui("ja"), ui("en")
    assert {k: ja["report"]["field"][k] for k in FIELD_LABELS_JA} == FIELD_LABELS_JA
    assert REASON_LABELS["ja"] == ja["resolution"] and REASON_LABELS["en"] == en["resolution"]
    for kind in KINDS:
        for lang in (ja, en):
            assert kind in lang["notification"] and kind in lang["notificationBody"]
    assert ja["notification"]["alert_assigned"].replace("{{case}}", "A1") == notification_text(
        "alert_assigned", {"case_number": "A1", "fields": []}, "ja")[0]


@pytest.mark.parametrize(("value", "expected"), [("ja", "ja"), ("ja-JP", "ja"), ("en", "en"), ("", "en"), (None, "en"),
                                                 ("fr", "en")])
def test_locale_of(value: str | None, expected: str) -> None:
    assert locale_of(value) == expected


def test_alert_email_in_one_language() -> None:
    subject, body = alert_email(locale="ja", case_number="M1", fields=["C", "h_grade"], alert_id=7,
                                url="https://glomcheck.example/cases/3?tab=comparison&alert=7")
    assert subject == "[glomcheck] 二次読影の依頼: 症例 M1"
    assert "症例 M1 の署名済み報告書と AI 評価の間に重大な不一致があります" in body
    assert "C（半月体）、IgA腎症組織学的重症度（H-Grade）" in body and "アラート 7" in body
    assert "https://glomcheck.example/cases/3?tab=comparison&alert=7" in body
    assert "Second read" not in subject and "assigned" not in body
    subject, body = alert_email(locale="en", case_number="M1", fields=["C", "h_grade"], alert_id=7, url="u")
    assert subject == "[glomcheck] Second read requested: case M1"
    assert "differs from the AI assessment in: C, h_grade." in body and "二次読影" not in subject + body
