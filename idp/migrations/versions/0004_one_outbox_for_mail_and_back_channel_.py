"""one outbox for mail and back-channel logout

The undelivered rows of mail_outbox and backchannel_deliveries move into outbox_items;
then the two old tables go.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 21:10:03.568550
"""
import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables as this revision sees them (the models will change, the migration must not).
_outbox = sa.table(
    'outbox_items', sa.column('channel', sa.String), sa.column('recipient', sa.String),
    sa.column('subject', sa.String), sa.column('payload', sa.JSON(none_as_null=True)),
    sa.column('created_at', sa.DateTime(timezone=True)), sa.column('attempts', sa.Integer),
    sa.column('next_attempt_at', sa.DateTime(timezone=True)),
    sa.column('last_error', sa.Text), sa.column('abandoned_at', sa.DateTime(timezone=True)))
_mail = sa.table(
    'mail_outbox', sa.column('recipient', sa.String), sa.column('subject', sa.String),
    sa.column('body', sa.Text), sa.column('html', sa.Text),
    sa.column('created_at', sa.DateTime(timezone=True)), sa.column('attempts', sa.Integer),
    sa.column('next_attempt_at', sa.DateTime(timezone=True)),
    sa.column('sent_at', sa.DateTime(timezone=True)), sa.column('last_error', sa.Text))
_logout = sa.table(
    'backchannel_deliveries', sa.column('client_id', sa.String), sa.column('uri', sa.Text),
    sa.column('logout_token', sa.Text), sa.column('attempts', sa.Integer),
    sa.column('next_attempt_at', sa.DateTime(timezone=True)),
    sa.column('delivered_at', sa.DateTime(timezone=True)), sa.column('last_error', sa.Text),
    sa.column('created_at', sa.DateTime(timezone=True)))
# What the back-channel code of revision 0003 allowed: 1 attempt + 7 retries.
_OLD_LOGOUT_MAX_ATTEMPTS = 8


def _claims(token: str) -> dict[str, Any]:
    """The payload of a logout token we signed ourselves (no need to verify it)."""
    part = token.split('.')[1]
    return json.loads(base64.urlsafe_b64decode(part + '=' * (-len(part) % 4)))


def _moved_mail(conn: sa.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(_mail).where(_mail.c.sent_at.is_(None))).all()
    return [{'channel': 'mail', 'recipient': r.recipient, 'subject': r.subject,
             'payload': {'body': r.body, 'html': r.html}, 'created_at': r.created_at,
             'attempts': r.attempts, 'next_attempt_at': r.next_attempt_at or r.created_at,
             'last_error': r.last_error, 'abandoned_at': None} for r in rows]


def _moved_logout(conn: sa.Connection, now: datetime) -> list[dict[str, Any]]:
    """Undelivered logout tokens; the outbox signs them again when it sends them, so
    only their session, subject and jti are kept. Those the old code had given up on
    come in abandoned (and without payload, like every abandoned item)."""
    rows = conn.execute(sa.select(_logout).where(_logout.c.delivered_at.is_(None))).all()
    moved = []
    for r in rows:
        claims = _claims(r.logout_token)
        given_up = r.attempts >= _OLD_LOGOUT_MAX_ATTEMPTS
        moved.append({
            'channel': 'backchannel', 'recipient': r.client_id,
            'subject': f"Logout of session {claims['sid']}",
            'payload': None if given_up else {'uri': r.uri, 'sid': claims['sid'],
                                              'sub': claims.get('sub'), 'jti': claims['jti']},
            'created_at': r.created_at, 'attempts': r.attempts,
            'next_attempt_at': None if given_up else r.next_attempt_at,
            'last_error': r.last_error, 'abandoned_at': now if given_up else None})
    return moved


def upgrade() -> None:
    op.create_table('outbox_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('recipient', sa.String(length=255), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('payload', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('leased_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('abandoned_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_items'))
    )
    with op.batch_alter_table('outbox_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_items_delivered_at'), ['delivered_at'], unique=False)
        batch_op.create_index('ix_outbox_items_due', ['channel', 'next_attempt_at'], unique=False)

    conn = op.get_bind()
    moved = _moved_mail(conn) + _moved_logout(conn, datetime.now(UTC))
    if moved:
        op.bulk_insert(_outbox, sorted(moved, key=lambda row: row['created_at']))

    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_outbox_next_attempt_at'))
    op.drop_table('mail_outbox')
    with op.batch_alter_table('backchannel_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backchannel_deliveries_client_id'))
        batch_op.drop_index(batch_op.f('ix_backchannel_deliveries_delivered_at'))
        batch_op.drop_index(batch_op.f('ix_backchannel_deliveries_next_attempt_at'))
    op.drop_table('backchannel_deliveries')


def downgrade() -> None:
    """The old tables come back; undelivered mail moves back into mail_outbox. Logout
    tokens do not: they would have to be signed here, and they are short-lived anyway."""
    op.create_table('backchannel_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('uri', sa.Text(), nullable=False),
    sa.Column('logout_token', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.client_id'], name=op.f('fk_backchannel_deliveries_client_id_clients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_backchannel_deliveries'))
    )
    with op.batch_alter_table('backchannel_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backchannel_deliveries_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_backchannel_deliveries_delivered_at'), ['delivered_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_backchannel_deliveries_next_attempt_at'), ['next_attempt_at'], unique=False)

    op.create_table('mail_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=255), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox'))
    )
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_outbox_next_attempt_at'), ['next_attempt_at'], unique=False)

    waiting = op.get_bind().execute(sa.select(_outbox).where(
        _outbox.c.channel == 'mail', _outbox.c.next_attempt_at.is_not(None))).all()
    if waiting:
        op.bulk_insert(_mail, [
            {'recipient': r.recipient, 'subject': r.subject, 'body': r.payload['body'],
             'html': r.payload.get('html'), 'created_at': r.created_at,
             'attempts': r.attempts, 'next_attempt_at': r.next_attempt_at, 'sent_at': None,
             'last_error': r.last_error} for r in waiting])

    with op.batch_alter_table('outbox_items', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_items_due')
        batch_op.drop_index(batch_op.f('ix_outbox_items_delivered_at'))
    op.drop_table('outbox_items')
