"""The pg_url fixture gives a working, empty PostgreSQL database of its own."""

from __future__ import annotations

import sqlalchemy as sa


def test_pg_url_gives_a_fresh_database(pg_url: str) -> None:
    url = sa.make_url(pg_url)
    assert url.database.startswith("tunelab_t_")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == url.database
            conn.execute(sa.text("CREATE TABLE item (id integer PRIMARY KEY, name text NOT NULL)"))
            conn.execute(sa.text("INSERT INTO item (id, name) VALUES (:id, :name)"), {"id": 1, "name": "tiny-bert"})
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, name FROM item")).all()
        assert [tuple(row) for row in rows] == [(1, "tiny-bert")]
    finally:
        engine.dispose()
