"""Consents with their history; how far event payloads were pruned

Revision ID: 0023_privacy
Revises: 0022_queue
Create Date: 2026-12-07 10:00:00.000000

Consents recorded before this revision live only in ``members.consents``; each becomes
the first row of its history, dated when it was last set and recorded by ``migration``.
"""
from collections.abc import Sequence
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision: str = '0023_privacy'
down_revision: str | Sequence[str] | None = '0022_queue'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_CHANNELS = ("email", "sms", "push", "post", "phone", "whatsapp")
"""``patron.members.consents.CHANNELS`` as of this revision."""


def upgrade() -> None:
    op.create_table(
        'consent_changes',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('member_id', _ID, nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('purpose', sa.String(length=64), nullable=False),
        sa.Column('granted', sa.Boolean(), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=True),
        sa.Column('notice', sa.String(length=200), nullable=True),
        sa.Column('actor', sa.String(length=254), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_consent_changes_program_id_programs')),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                                name=op.f('fk_consent_changes_member_id_members')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_changes')),
    )
    op.create_index('ix_consent_changes_member_id', 'consent_changes', ['member_id'])
    op.create_table(
        'event_data_pruning',
        sa.Column('program_id', _ID, autoincrement=False, nullable=False),
        sa.Column('through_event_id', _ID, nullable=False),
        sa.Column('pruned_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_event_data_pruning_program_id_programs')),
        sa.PrimaryKeyConstraint('program_id', name=op.f('pk_event_data_pruning')),
    )
    _consent_history()


def _parse_key(key: str) -> tuple[str, str]:
    for channel in _CHANNELS:
        if key.startswith(channel + "_") and len(key) > len(channel) + 1:
            return channel, key[len(channel) + 1:]
    return "any", key


def _when(text: object, fallback: datetime) -> datetime:
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        return fallback
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _stored(when: datetime, naive: bool) -> datetime:
    when = when.astimezone(timezone.utc)
    return when.replace(tzinfo=None) if naive else when


def _consent_history() -> None:
    """Each consent already set becomes its history's first row."""
    conn = op.get_bind()
    members = sa.table('members', sa.column('id', _ID), sa.column('program_id', _ID),
                       sa.column('consents', sa.JSON()), sa.column('updated_at', sa.DateTime()))
    changes = sa.table('consent_changes', *(sa.column(name) for name in (
        'program_id', 'member_id', 'channel', 'purpose', 'granted', 'source', 'notice',
        'actor')), sa.column('created_at', sa.DateTime(timezone=True)))
    naive = conn.dialect.name == 'sqlite'  # Patron stores naive UTC there (UTCDateTime)
    after = 0
    while True:
        rows = conn.execute(sa.select(members).where(members.c.id > after)
                            .order_by(members.c.id).limit(5000)).all()
        if not rows:
            return
        after = rows[-1].id
        history = []
        for row in rows:
            fallback = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(
                tzinfo=timezone.utc)
            for key, entry in (row.consents or {}).items():
                if not isinstance(entry, dict) or "granted" not in entry:
                    continue
                channel, purpose = _parse_key(key)
                history.append(dict(program_id=row.program_id, member_id=row.id,
                                    channel=channel, purpose=purpose[:64],
                                    granted=bool(entry["granted"]), source=None, notice=None,
                                    actor="migration",
                                    created_at=_stored(_when(entry.get("updated_at"),
                                                             fallback), naive)))
        if history:
            conn.execute(changes.insert(), history)


def downgrade() -> None:
    op.drop_table('event_data_pruning')
    op.drop_index('ix_consent_changes_member_id', table_name='consent_changes')
    op.drop_table('consent_changes')
