"""The one MetaData every domain's tables are declared on."""

from __future__ import annotations

from sqlalchemy import MetaData

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def load_all_tables() -> MetaData:
    """Import every domain's table module so ``metadata`` knows them all."""
    import patron.auth.tables  # noqa: F401
    import patron.coupons.tables  # noqa: F401
    import patron.earning.tables  # noqa: F401
    import patron.events.tables  # noqa: F401
    import patron.households.tables  # noqa: F401
    import patron.idempotency.tables  # noqa: F401
    import patron.ledger.tables  # noqa: F401
    import patron.tiers.tables  # noqa: F401
    import patron.transfers.tables  # noqa: F401
    import patron.members.tables  # noqa: F401
    import patron.memberships.tables  # noqa: F401
    import patron.programs.tables  # noqa: F401
    import patron.referrals.tables  # noqa: F401
    import patron.rewards.tables  # noqa: F401
    import patron.wallet.tables  # noqa: F401

    return metadata
