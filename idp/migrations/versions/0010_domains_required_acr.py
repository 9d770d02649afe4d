"""the level a domain requires

A domain of the catalogue may require `eidas2` of every login to its applications, as a
client's `required_acr` does for one application.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 04:35:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.add_column(sa.Column('required_acr', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.drop_column('required_acr')
