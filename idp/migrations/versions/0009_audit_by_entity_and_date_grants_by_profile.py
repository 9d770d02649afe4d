"""audit events by entity and date, grants by profile and date

Historique walks an administrator's entities' events newest first, a page at a time:
(entity_id, at, id) serves it as an ordered index scan (it replaces the index on
entity_id alone). Revue des habilitations asks when each profile last signed in to an
application, i.e. its newest grant: (profile_id, created_at).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 04:50:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_entity_at', ['entity_id', 'at', 'id'],
                              unique=False)
        batch_op.drop_index('ix_audit_events_entity_id')
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.create_index('ix_grants_profile_created', ['profile_id', 'created_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_index('ix_grants_profile_created')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_entity_id', ['entity_id'], unique=False)
        batch_op.drop_index('ix_audit_events_entity_at')
