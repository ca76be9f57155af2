"""The first schema: runs, decisions and client errors (logs written before versioning).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three tables of the first decision log."""
    op.create_table(
        "tierwise_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pack_hash", sa.String(128), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("previous_run_id", sa.String(64), nullable=True),
        sa.Column("clients", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("profile", sa.JSON(), nullable=True),
    )
    op.create_table(
        "tierwise_decisions",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(255), primary_key=True),
        sa.Column("decision", sa.String(255), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("output", sa.String(), nullable=True),
        sa.Column("rules", sa.JSON(), nullable=True),
        sa.Column("explanation", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("pack_hash", sa.String(128), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.Column("previous_status", sa.String(16), nullable=True),
        sa.Column("previous_output", sa.String(), nullable=True),
    )
    op.create_table(
        "tierwise_client_errors",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(255), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("fact", sa.String(), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=True),
        sa.Column("pack_hash", sa.String(128), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
    )


def downgrade() -> None:
    """Drop the three tables (and with them every run)."""
    for table in ("tierwise_client_errors", "tierwise_decisions", "tierwise_runs"):
        op.drop_table(table)
