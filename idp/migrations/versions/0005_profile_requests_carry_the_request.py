"""profile requests carry the request

A request now holds what the person typed (the account is created only when it is
accepted) and the entities it was routed to. No version before this one wrote to
profile_requests, so the new NOT NULL columns need no default.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 21:53:02.782098
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('profile_request_routes',
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['entity_id'], ['entities.id'], name=op.f('fk_profile_request_routes_entity_id_entities')),
    sa.ForeignKeyConstraint(['request_id'], ['profile_requests.id'], name=op.f('fk_profile_request_routes_request_id_profile_requests')),
    sa.PrimaryKeyConstraint('request_id', 'entity_id', name=op.f('pk_profile_request_routes'))
    )
    with op.batch_alter_table('profile_request_routes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_profile_request_routes_entity_id'), ['entity_id'], unique=False)

    with op.batch_alter_table('profile_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entity_id', sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('given_name', sa.String(length=120), nullable=False))
        batch_op.add_column(sa.Column('family_name', sa.String(length=120), nullable=False))
        batch_op.add_column(sa.Column('email', sa.String(length=255), nullable=False))
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('address', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('label', sa.String(length=255), nullable=False))
        batch_op.alter_column('profile_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.drop_index(batch_op.f('ix_profile_requests_profile_id'))
        batch_op.create_index(batch_op.f('ix_profile_requests_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_profile_requests_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_profile_requests_entity_id'), ['entity_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_profile_requests_entity_id_entities'), 'entities', ['entity_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_profile_requests_account_id_accounts'), 'accounts', ['account_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('profile_requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_profile_requests_account_id_accounts'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_profile_requests_entity_id_entities'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_profile_requests_entity_id'))
        batch_op.drop_index(batch_op.f('ix_profile_requests_created_at'))
        batch_op.drop_index(batch_op.f('ix_profile_requests_account_id'))
        batch_op.create_index(batch_op.f('ix_profile_requests_profile_id'), ['profile_id'], unique=False)
        batch_op.alter_column('profile_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('label')
        batch_op.drop_column('address')
        batch_op.drop_column('phone')
        batch_op.drop_column('email')
        batch_op.drop_column('family_name')
        batch_op.drop_column('given_name')
        batch_op.drop_column('account_id')
        batch_op.drop_column('entity_id')

    with op.batch_alter_table('profile_request_routes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_profile_request_routes_entity_id'))

    op.drop_table('profile_request_routes')
