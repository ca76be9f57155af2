"""Write-back joins the log's guarantee: pages whose CRM write-back is not confirmed yet.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "tierwise_writeback_pending"


def upgrade() -> None:
    """Create the table of pending write-back pages; a log written by the tierwise that
    brought write-back pages but no versioning has it already."""
    if sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.create_table(
        TABLE,
        sa.Column("target", sa.String(512), primary_key=True),
        sa.Column("page", sa.String(32), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("client_ids", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the table of pending write-back pages."""
    op.drop_table(TABLE)
