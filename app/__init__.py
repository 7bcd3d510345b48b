"""glomcheck: AI double-check of renal biopsy pathology."""

__version__ = "0.1.0"
