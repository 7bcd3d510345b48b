"""Report-vs-AI comparison (DOMAIN.md §5); ``rules`` is pure, persistence lives elsewhere."""

from app.discrepancies.rules import Discrepancy, ReportValues, Severity, compare, report_from_ai

__all__ = ["Discrepancy", "ReportValues", "Severity", "compare", "report_from_ai"]
