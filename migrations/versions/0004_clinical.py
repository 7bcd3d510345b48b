"""clinical data: baseline record and dated follow-ups per case (DOMAIN.md §6)

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clinical_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("biopsy_date", sa.Date(), nullable=True),
        sa.Column("age_years", sa.Integer(), nullable=True),
        sa.Column("sex", sa.String(length=8), nullable=True),
        sa.Column("clinical_diagnosis", sa.String(length=200), nullable=True),
        sa.Column("history", sa.Text(), nullable=True),
        sa.Column("systolic_bp_mmhg", sa.Integer(), nullable=True),
        sa.Column("diastolic_bp_mmhg", sa.Integer(), nullable=True),
        sa.Column("creatinine_mg_dl", sa.Float(), nullable=True),
        sa.Column("egfr", sa.Float(), nullable=True),
        sa.Column("urinary_protein", sa.Float(), nullable=True),
        sa.Column("urinary_protein_unit", sa.String(length=8), nullable=True),
        sa.Column("haematuria", sa.String(length=8), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_clinical_records_case_id_cases"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["institution_id"], ["institutions.id"],
                                name=op.f("fk_clinical_records_institution_id_institutions")),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"], name=op.f("fk_clinical_records_updated_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinical_records")),
        sa.UniqueConstraint("case_id", name=op.f("uq_clinical_records_case_id")),
    )
    with op.batch_alter_table("clinical_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clinical_records_institution_id"), ["institution_id"], unique=False)

    op.create_table(
        "clinical_followups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("measured_on", sa.Date(), nullable=False),
        sa.Column("systolic_bp_mmhg", sa.Integer(), nullable=True),
        sa.Column("diastolic_bp_mmhg", sa.Integer(), nullable=True),
        sa.Column("creatinine_mg_dl", sa.Float(), nullable=True),
        sa.Column("egfr", sa.Float(), nullable=True),
        sa.Column("urinary_protein", sa.Float(), nullable=True),
        sa.Column("urinary_protein_unit", sa.String(length=8), nullable=True),
        sa.Column("haematuria", sa.String(length=8), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", app.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_clinical_followups_case_id_cases"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_clinical_followups_created_by_id_users")),
        sa.ForeignKeyConstraint(["institution_id"], ["institutions.id"],
                                name=op.f("fk_clinical_followups_institution_id_institutions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinical_followups")),
        sa.UniqueConstraint("case_id", "measured_on", name=op.f("uq_clinical_followups_case_id")),
    )
    with op.batch_alter_table("clinical_followups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clinical_followups_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_clinical_followups_institution_id"), ["institution_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("clinical_followups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinical_followups_institution_id"))
        batch_op.drop_index(batch_op.f("ix_clinical_followups_case_id"))
    op.drop_table("clinical_followups")
    with op.batch_alter_table("clinical_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinical_records_institution_id"))
    op.drop_table("clinical_records")
