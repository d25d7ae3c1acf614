"""The database's one Alembic history, registry and applications together (`env.py`, `versions/`, `tables.py`)."""
