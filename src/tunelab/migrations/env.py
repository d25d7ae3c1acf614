"""Alembic environment: the connection comes from `tunelab.registry.db.migrate` (no alembic.ini needed)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from tunelab.migrations.tables import metadata

# Revisions removed from the history -> the kept revision whose schema they equal. A database stamped with one
# is restamped before upgrading (see versions/0005_prediction_kind.py).
RETIRED = {"0004": "0003"}


def restamp_retired(conn: Any) -> None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return
    for old, same in RETIRED.items():
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :same WHERE version_num = :old"),
                     {"same": same, "old": old})


connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` run by hand: use the URL given with -x url=...
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database URL: alembic -x url=sqlite:///registry.db upgrade head")
    engine = sa.create_engine(url)
    with engine.begin() as restamping:
        restamp_retired(restamping)
    connection = engine.connect()
else:  # inside migrate()'s transaction
    restamp_retired(connection)

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
