from __future__ import annotations

import pytest

from tests.analysis.factories import use_fast_password_hashing


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)
