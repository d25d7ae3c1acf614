"""A dashboard training run as its own process: `python -m tunelab.serving.trainer CONFIG.yaml`.

It runs the ordinary `run_train` recipe with its own thread count (the server's stays as it is) and writes
one JSON line per history entry to stdout; a failure is a last line `{"error": ...}` and exit status 1.
"""

from __future__ import annotations

import json
import sys

from tunelab.errors import TunelabError


def emit(entry: object) -> None:
    sys.stdout.write(json.dumps(entry, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    from tunelab.config import load_config
    from tunelab.recipes.train import run_train

    try:
        run_train(load_config(argv[0]), show_progress=False, on_event=emit)
    except TunelabError as exc:
        emit({"error": str(exc)})
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
