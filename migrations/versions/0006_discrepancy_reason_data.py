"""discrepancy reasons as code + parameters, so the Japanese UI can phrase them

Revision ID: 0006
Revises: 0005

Rows written before this keep only their English sentence (`reason_data` NULL); the UI shows that.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("discrepancies") as batch:
        batch.add_column(sa.Column("reason_data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                                     nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("discrepancies") as batch:
        batch.drop_column("reason_data")
