"""De-identification errors: a refused or failed de-identification is a 422 for the API."""

from __future__ import annotations

from app.errors import Unprocessable


class DeidError(Unprocessable):
    """The input cannot be de-identified safely (unsupported, corrupt, or verification failed)."""

    code = "deidentification_failed"
