"""The Alembic migrations build exactly the schema the ORM models describe, on both databases.

A column added to a model without a migration (or the reverse) would work in tests that create
tables from the models and fail on a real upgraded database; this compares the two directly.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.db.models import Base
from app.db.session import get_engine
from tests.conftest import DbUnderTest


def test_migrated_schema_equals_the_models(db: DbUnderTest) -> None:
    with get_engine().connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"{db.kind}: migrations and models differ: {diff}"
