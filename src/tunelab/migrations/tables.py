"""Every table of the database on one `MetaData`: the registry's core tables and each application's, listed here.

This is the one place that gathers them; Alembic's `env.py` and the "migrations match the tables" test use it.
The registry never imports an application (an import-linter contract), so this module sits above both.
"""

from __future__ import annotations

from types import ModuleType

from sqlalchemy import MetaData

from tunelab.apps.assistant import tables as assistant_tables
from tunelab.apps.monitor import tables as monitor_tables
from tunelab.apps.recommender import tables as recommender_tables
from tunelab.loop import tables as loop_tables
from tunelab.privacy import policies as privacy_tables
from tunelab.registry import audit as audit_tables
from tunelab.registry import coordination as coordination_tables
from tunelab.registry import schema as registry_tables

TABLE_MODULES: tuple[ModuleType, ...] = (registry_tables, assistant_tables, monitor_tables,
                                          recommender_tables, coordination_tables, loop_tables,
                                          audit_tables, privacy_tables)

metadata: MetaData = registry_tables.metadata
