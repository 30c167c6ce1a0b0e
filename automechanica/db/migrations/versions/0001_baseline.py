"""baseline: installation record

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row naming this installation; `db test` and health show it so that an operator can
    # tell two databases apart (a restored backup, a staging copy) at a glance.
    op.execute(
        """
        CREATE TABLE installation (
            id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            created_at  timestamptz NOT NULL DEFAULT now(),
            singleton   boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton)
        );
        INSERT INTO installation DEFAULT VALUES;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE installation")
