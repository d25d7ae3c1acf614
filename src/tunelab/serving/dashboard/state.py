"""What the dashboard holds per server process: its home folder, the session codec and the training jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from tunelab.home import home
from tunelab.serving.dashboard.cookies import SessionCodec, load_secret
from tunelab.serving.dashboard.jobs import TrainingJobs
from tunelab.serving.settings import ServeSettings


@dataclass
class Dashboard:
    home: Path  # tunelab.home.home(): the signing secret and the uploads live here
    jobs: TrainingJobs = field(default_factory=TrainingJobs)

    @classmethod
    def create(cls, _settings: ServeSettings) -> Dashboard:
        return cls(home())

    @cached_property
    def codec(self) -> SessionCodec:
        """Made on the first dashboard request: a server that nobody browses writes no secret file."""
        return SessionCodec(load_secret(self.home))

    @property
    def uploads(self) -> Path:
        return self.home / "uploads"  # one folder per upload
