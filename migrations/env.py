"""Alembic environment: the only way the monitor's schema is made.

Runs against the engine handed over by `monitor.db` (or the URL in the
config), one transaction per migration, under an advisory lock on
PostgreSQL so two deployers never migrate at once. SQLite uses batch mode
so that ALTERs work.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from monitor.db import make_engine
from monitor.models import Base

config = context.config
target_metadata = Base.metadata
MIGRATION_LOCK_ID = 7_300_001


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        compare_server_default=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or make_engine(
        config.get_main_option("sqlalchemy.url")
    )
    with engine.connect() as connection:
        is_postgres = connection.dialect.name == "postgresql"
        if is_postgres:
            connection.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                transaction_per_migration=True,
                compare_server_default=True,
                compare_type=True,
                render_as_batch=not is_postgres,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if is_postgres:
                connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
                connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
