"""The model registry: run folders registered as versions of named models, in SQLite or PostgreSQL.

Core code: it never imports the server, the CLI or an HTTP library.
"""

from tunelab.registry.names import ModelRef, check_name, parse_ref
from tunelab.registry.store import KeyInfo, ModelInfo, PredictionRecord, Store, VersionInfo, choose_version

__all__ = ["KeyInfo", "ModelInfo", "ModelRef", "PredictionRecord", "Store", "VersionInfo", "check_name",
           "choose_version", "parse_ref"]
