"""entity search folded, email looked up by lower()

The « Entité » field searches a folded copy of each entity's FINESS, code, name and city
(accents, case and hyphens gone: « saint etienne » finds « Saint-Étienne »), through a
trigram index on PostgreSQL (pg_trgm, created here when the server has it; otherwise a
plain index and a scan). « Identifiant perdu ? » finds people by lower(email).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 04:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError

from idp.directory.folding import entity_search_text

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def _backfill() -> None:
    bind = op.get_bind()
    entities = sa.table('entities', sa.column('id', sa.Integer), sa.column('finess'),
                        sa.column('code'), sa.column('name'), sa.column('city'),
                        sa.column('search_text'))
    rows = bind.execute(sa.select(entities.c.id, entities.c.finess, entities.c.code,
                                  entities.c.name, entities.c.city)).all()
    update = (sa.update(entities).where(entities.c.id == sa.bindparam('entity_id'))
              .values(search_text=sa.bindparam('folded')))
    for start in range(0, len(rows), BATCH):
        bind.execute(update, [{'entity_id': r.id,
                               'folded': entity_search_text(r.finess, r.code, r.name, r.city)}
                              for r in rows[start:start + BATCH]])


def _trigrams_available() -> bool:
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.execute(sa.text('CREATE EXTENSION IF NOT EXISTS pg_trgm'))
    except DBAPIError:  # not installed, or not ours to create: a plain index then
        return False
    return True


def upgrade() -> None:
    with op.batch_alter_table('entities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.String(length=512), nullable=True))
    _backfill()
    with op.batch_alter_table('entities', schema=None) as batch_op:
        batch_op.alter_column('search_text', existing_type=sa.String(length=512),
                              nullable=False)
    if op.get_bind().dialect.name == 'postgresql' and _trigrams_available():
        op.create_index('ix_entities_search_text', 'entities', ['search_text'],
                        postgresql_using='gin', postgresql_ops={'search_text': 'gin_trgm_ops'})
    else:
        op.create_index('ix_entities_search_text', 'entities', ['search_text'])

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_accounts_email')
    op.create_index('ix_accounts_email_lower', 'accounts', [sa.text('lower(email)')])


def downgrade() -> None:
    op.drop_index('ix_accounts_email_lower', table_name='accounts')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index('ix_accounts_email', ['email'], unique=False)
    op.drop_index('ix_entities_search_text', table_name='entities')
    with op.batch_alter_table('entities', schema=None) as batch_op:
        batch_op.drop_column('search_text')
