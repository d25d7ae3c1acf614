"""Runs: the table of runs, two runs compared, one run's details with live training progress (SSE)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import Query
from fastapi.responses import FileResponse, StreamingResponse
from starlette.requests import Request
from starlette.responses import Response

from tunelab.errors import NotFoundError
from tunelab.registry import check_name
from tunelab.serving.dashboard import runfolders as rf
from tunelab.serving.dashboard.pages import Admin, PostedForm, field, new_router
from tunelab.serving.dashboard.web import redirect, render
from tunelab.serving.deps import services_of
from tunelab.serving.jobs import Job
from tunelab.serving.policy import check_folder, runs_folder

router = new_router()
HEARTBEAT_S = 15.0


def _root(request: Request) -> Path:
    return runs_folder(services_of(request).settings)


def _detail(request: Request, run_id: str) -> rf.RunDetail:
    return rf.load_run(run_id, rf.find_run(_root(request), services_of(request).store, run_id))


@router.get("/")
def runs_page(request: Request, _admin: Admin) -> Response:
    rows = rf.list_all_runs(_root(request), services_of(request).store)
    job = services_of(request).dashboard.jobs.busy()
    for row in rows:
        if job is not None and row["id"] == job.run_name:
            row["status"] = "training"
    return render(request, "runs.html", active="runs", rows=rows, root=str(_root(request)))


@router.get("/runs/compare")
def compare_page(request: Request, _admin: Admin, a: str = Query(""), b: str = Query("")) -> Response:
    if not a or not b or a == b:
        return render(request, "error.html", 400, error_text="Pick two different runs to compare.",
                      back="/")
    comparison = rf.compare_runs(_detail(request, a), _detail(request, b))
    return render(request, "compare.html", active="runs", c=comparison)


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str, _admin: Admin) -> Response:
    job = services_of(request).dashboard.jobs.get(run_id)
    try:
        run = _detail(request, run_id)
    except NotFoundError:
        if job is None:
            raise
        run = rf.load_run(run_id, job.run_dir)  # just started: the folder appears once the data is read
    split = run.split()
    labels, matrix = rf.confusion(run.metrics, split)
    models = [m.name for m in services_of(request).store.list_models()]
    return render(request, "run.html", active="runs", run=run, job=job, split=split, labels=labels,
                  matrix=matrix, per_class=rf.per_class_rows(run.metrics, split), models=models,
                  artifacts=rf.artifact_rows(run.manifest),
                  history_json=json.dumps(run.history), live=job is not None and not job.done)


@router.get("/runs/{run_id}/events")
async def run_events(request: Request, run_id: str, _admin: Admin) -> Response:
    """Server-sent events: each training history entry, then `end` with the job's status."""
    job = services_of(request).dashboard.jobs.get(run_id)
    if job is None:
        _detail(request, run_id)  # 404 for an unknown run
    return StreamingResponse(_stream(request, job), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _stream(request: Request, job: Job | None) -> AsyncIterator[str]:
    if job is None:  # nothing trains for this run in this server process
        yield "event: end\ndata: {\"status\": \"none\"}\n\n"
        return
    sent, idle = 0, 0.0
    while True:
        done = job.done  # read before the events: an entry added just before the end is not missed
        fresh = job.events[sent:]
        sent += len(fresh)
        for entry in fresh:
            yield f"data: {json.dumps(entry)}\n\n"
        if done:
            yield f"event: end\ndata: {json.dumps(job.summary())}\n\n"
            return
        idle = 0.0 if fresh else idle + 0.25
        if idle >= HEARTBEAT_S:
            idle = 0.0
            yield ": keep-alive\n\n"
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.25)


@router.get("/runs/{run_id}/files/{name}")
def run_file(request: Request, run_id: str, name: str, _admin: Admin) -> Response:
    if name not in rf.PLOTS:  # only the known plot files: no path comes from the request
        raise NotFoundError(f"no file {name!r} in run {run_id!r}")
    path = rf.find_run(_root(request), services_of(request).store, run_id) / name
    if not path.is_file():
        raise NotFoundError(f"run {run_id!r} has no {name}")
    return FileResponse(path, media_type="image/png")


@router.post("/runs/{run_id}/register")
def register_run(request: Request, run_id: str, admin: Admin, form: PostedForm) -> Response:
    """Register a finished run as the next version of a model (as `POST /v1/models/{name}/versions`)."""
    state = services_of(request)
    path = rf.find_run(_root(request), state.store, run_id)
    path = check_folder(state.settings, str(path))  # a symlink in the runs folder may point elsewhere
    name = check_name(field(form, "model").strip())
    alias = field(form, "alias").strip() or None
    info = state.admin.register(path, name, alias=alias, actor=admin.key_name)
    return redirect(request, f"/models?registered={info.model}@{info.version}#model-{info.model}")
