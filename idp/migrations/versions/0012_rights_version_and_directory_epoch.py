"""rights version of each account, epoch of the directory

The token paths keep the claims of a subject in memory (`idp.oidc.subjects`) under two
counters the database keeps itself, by triggers, so that no write path (the ORM, the
importer's bulk writer, a plain UPDATE typed by an operator) can forget them:

- `accounts.rights_version` moves on at any change of the account, of one of its
  profiles or of a profile's habilitations;
- `directory_epoch.value` moves on at any change of the entities (a name, a type, an
  establishment joining an EJ changes what the EJ's tokens say), of the roles or of the
  domains.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 08:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH_TABLES = ('entities', 'roles', 'domains')
BUMP_EPOCH = 'UPDATE directory_epoch SET value = value + 1 WHERE id = 1'


def _bump_accounts(where: str) -> str:
    # `where` is one of this file's constants, never input.
    return f'UPDATE accounts SET rights_version = rights_version + 1 WHERE id IN ({where})'  # noqa: S608


# Which accounts a row of profiles or habilitations belongs to, from a trigger's NEW or OLD.
PROFILE_OWNER = '{row}.account_id'
HABILITATION_OWNER = '(SELECT account_id FROM profiles WHERE id = {row}.profile_id)'

POSTGRESQL = [
    f"""CREATE FUNCTION idp_bump_directory_epoch() RETURNS trigger AS $$
        BEGIN {BUMP_EPOCH}; RETURN NULL; END $$ LANGUAGE plpgsql""",
    # An update of the account itself that did not set the version: set it.
    """CREATE FUNCTION idp_account_changed() RETURNS trigger AS $$
        BEGIN NEW.rights_version := OLD.rights_version + 1; RETURN NEW; END
        $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER accounts_rights_version BEFORE UPDATE ON accounts FOR EACH ROW
        WHEN (NEW.rights_version = OLD.rights_version)
        EXECUTE FUNCTION idp_account_changed()""",
    *(f"""CREATE FUNCTION idp_{table}_changed() RETURNS trigger AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN {_bump_accounts(owner.format(row='OLD'))}; END IF;
            IF TG_OP <> 'DELETE' THEN {_bump_accounts(owner.format(row='NEW'))}; END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql"""
      for table, owner in (('profiles', PROFILE_OWNER), ('habilitations', HABILITATION_OWNER))),
    *(f"""CREATE TRIGGER {table}_rights_version AFTER INSERT OR UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION idp_{table}_changed()"""
      for table in ('profiles', 'habilitations')),
    *(f"""CREATE TRIGGER {table}_directory_epoch AFTER INSERT OR UPDATE OR DELETE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION idp_bump_directory_epoch()"""
      for table in EPOCH_TABLES),
]

# SQLite: row triggers only, one per operation; a trigger's own UPDATE fires no trigger
# of the same name (recursive_triggers is off), and the accounts' one is guarded anyway.
SQLITE = [
    """CREATE TRIGGER accounts_rights_version AFTER UPDATE ON accounts FOR EACH ROW
        WHEN NEW.rights_version = OLD.rights_version
        BEGIN UPDATE accounts SET rights_version = OLD.rights_version + 1
              WHERE id = NEW.id; END""",
    *(f"""CREATE TRIGGER {table}_rights_version_{operation.lower()} AFTER {operation}
        ON {table} FOR EACH ROW
        BEGIN {_bump_accounts(', '.join(owners(owner)))}; END"""
      for table, owner in (('profiles', PROFILE_OWNER), ('habilitations', HABILITATION_OWNER))
      for operation, owners in (
          ('INSERT', lambda o: [o.format(row='NEW')]),
          ('UPDATE', lambda o: [o.format(row='OLD'), o.format(row='NEW')]),
          ('DELETE', lambda o: [o.format(row='OLD')]))),
    *(f"""CREATE TRIGGER {table}_directory_epoch_{operation.lower()} AFTER {operation}
        ON {table} FOR EACH ROW BEGIN {BUMP_EPOCH}; END"""
      for table in EPOCH_TABLES for operation in ('INSERT', 'UPDATE', 'DELETE')),
]


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rights_version', sa.Integer(), server_default='0',
                                      nullable=False))
    op.create_table(
        'directory_epoch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_epoch')),
    )
    op.execute('INSERT INTO directory_epoch (id, value) VALUES (1, 0)')
    for statement in POSTGRESQL if op.get_bind().dialect.name == 'postgresql' else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        for table in ('accounts', 'profiles', 'habilitations'):
            op.execute(f'DROP TRIGGER {table}_rights_version ON {table}')
        for table in EPOCH_TABLES:
            op.execute(f'DROP TRIGGER {table}_directory_epoch ON {table}')
        for function in ('bump_directory_epoch', 'account_changed', 'profiles_changed',
                         'habilitations_changed'):
            op.execute(f'DROP FUNCTION idp_{function}()')
    else:
        names = bind.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                     "AND (name LIKE '%rights_version%' "
                                     "OR name LIKE '%directory_epoch%')")).scalars()
        for name in list(names):
            op.execute(f'DROP TRIGGER {name}')
    op.drop_table('directory_epoch')
    # Not a batch: SQLite's copy of the table would lose ix_accounts_email_lower, an index
    # on an expression (SQLite has DROP COLUMN since 3.35).
    op.execute('ALTER TABLE accounts DROP COLUMN rights_version')
