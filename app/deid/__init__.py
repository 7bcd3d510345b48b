"""Verified de-identification of whole-slide images (DOMAIN.md section 7).

A pure library: no database, no HTTP. `deidentify()` writes a de-identified copy and returns a
`Certificate` for the audit log; the API and the `glomcheck deidentify` command both call it.
"""

from app.deid.certificate import Certificate, Check, Removal
from app.deid.errors import DeidError
from app.deid.service import deidentify, detect_format

__all__ = ["Certificate", "Check", "DeidError", "Removal", "deidentify", "detect_format"]
