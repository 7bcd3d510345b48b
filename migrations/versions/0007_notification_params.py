"""notification parameters, so the Japanese UI can phrase in-app notifications

Revision ID: 0007
Revises: 0006

A notification keeps its English title and body; ``params`` holds what they say as data (case number,
fields in disagreement, resolution reason) for the UI to phrase ``kind`` in its own language. Rows
written before this keep ``params`` NULL and are shown with their English words.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("params", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                                     nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("params")
