#!/usr/bin/env python
"""Naive serving baseline: FastAPI + a transformers `pipeline`, written the way a first-time user would.

One uvicorn worker; `POST /v1/models/{name}/predict` with `{"inputs": ["text", ...]}` calls the
pipeline once per request in a plain sync endpoint (so FastAPI runs it in its threadpool) and returns
`{"predictions": [...]}` (the pipeline's own output with `top_k=None`: every label's score per text, as
TuneLab's server also returns all probabilities).
`GET /v1/ready` answers 200 once the model is loaded (it is loaded before the server starts).

    .venv/bin/python benchmarks/serve_baseline.py --model runs/bench-serve-model --port 8100
    SERVE_BASELINE_MODEL=runs/bench-serve-model .venv/bin/python benchmarks/serve_baseline.py

Local model folders only: nothing is downloaded (HF_HUB_OFFLINE is forced on). Listens on loopback only.
"""

import argparse
import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL_ENV = "SERVE_BASELINE_MODEL"


def create_app(model: str) -> Any:
    # No `from __future__ import annotations` in this file: FastAPI must see the real class of the
    # locally defined request model, not the string "PredictRequest".
    import transformers
    from fastapi import FastAPI
    from pydantic import BaseModel

    transformers.logging.set_verbosity_error()
    classifier = transformers.pipeline("text-classification", model=model, top_k=None)
    app = FastAPI(title="baseline: FastAPI + transformers pipeline")

    class PredictRequest(BaseModel):
        inputs: list[str]

    @app.get("/v1/ready")
    def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/v1/models/{name}/predict")
    def predict(name: str, request: PredictRequest) -> dict[str, Any]:
        return {"predictions": classifier(request.inputs)}

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.environ.get(MODEL_ENV),
                        help=f"local model folder (a TuneLab run folder works; default: ${MODEL_ENV})")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    if not args.model:
        parser.error(f"give --model FOLDER or set {MODEL_ENV}")
    if not Path(args.model).is_dir():
        parser.error(f"model folder {args.model} does not exist (local folders only, nothing is downloaded)")
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        parser.error(f"--host {args.host} is not a loopback address")

    import uvicorn

    uvicorn.run(create_app(args.model), host=args.host, port=args.port, workers=1, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
