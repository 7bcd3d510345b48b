"""at most one active (queued or running) analysis job per slide

Revision ID: 0005
Revises: 0004

A partial unique index closes the race between two analysis requests for one slide that both see
no active job (the API turns the violation into the same 409 ``analysis_in_progress``).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_analysis_jobs_one_active_per_slide"
ACTIVE = "state IN ('queued', 'running')"


def upgrade() -> None:
    # Rows written before the index may already hold the duplicate this index forbids; keep the newest
    # active job of each slide and fail the older ones (run with workers stopped, as every migration).
    op.execute(sa.text(
        "UPDATE analysis_jobs SET state = 'failed', "
        "error = 'Superseded by a newer analysis of the same slide (database migration 0005).', "
        "finished_at = COALESCE(heartbeat_at, started_at, created_at) "
        f"WHERE {ACTIVE} AND id NOT IN (SELECT max(id) FROM analysis_jobs WHERE {ACTIVE} GROUP BY slide_id)"
    ))
    op.create_index(INDEX, "analysis_jobs", ["slide_id"], unique=True,
                    postgresql_where=sa.text(ACTIVE), sqlite_where=sa.text(ACTIVE))


def downgrade() -> None:
    op.drop_index(INDEX, table_name="analysis_jobs")
