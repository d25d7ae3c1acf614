"""New run: upload a file, preview it with the column mapping and every validation problem next to its
row, correct rows in place, then choose task and method and start training (one run at a time)."""

from __future__ import annotations

from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from tunelab.config import load_config
from tunelab.errors import ConflictError, UsageError
from tunelab.registry import check_name
from tunelab.serving.dashboard import uploads as up
from tunelab.serving.dashboard.pages import Admin, PostedForm, field, new_router
from tunelab.serving.dashboard.web import redirect, render
from tunelab.serving.deps import services_of
from tunelab.serving.policy import check_base_model, runs_folder

router = new_router()
METHODS = ("full", "lora", "adalora", "probe")


def _limit(request: Request) -> int:
    return int(services_of(request).settings.max_body_bytes)


@router.get("/new")
def new_page(request: Request, _admin: Admin) -> Response:
    return render(request, "new.html", active="new", tasks=up.TASKS, limit=_limit(request),
                  busy=services_of(request).dashboard.jobs.busy())


@router.post("/new/upload")
async def upload(request: Request, _admin: Admin, form: PostedForm) -> Response:
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        raise UsageError("choose a file to upload")
    data = await file.read(_limit(request) + 1)
    saved = up.save_upload(services_of(request).dashboard.uploads, file.filename, data, _limit(request))
    mapped = up.with_mapping(saved, field(form, "task", "classification"), field(form, "text_column", "text"),
                             field(form, "label_column", "label"))
    up.save_mapping(mapped)
    return redirect(request, f"/new/{saved.id}")


@router.get("/new/{upload_id}")
def preview_page(request: Request, upload_id: str, _admin: Admin) -> Response:
    upload = up.load_upload(services_of(request).dashboard.uploads, upload_id)
    preview = up.build_preview(upload)
    suggested = Path(upload.original_name).stem.lower().replace(" ", "-")[:40] or "run"
    return render(request, "preview.html", active="new", p=preview, tasks=up.TASKS, methods=METHODS,
                  suggested="".join(c for c in suggested if c.isalnum() or c in "-_") or "run",
                  busy=services_of(request).dashboard.jobs.busy())


@router.post("/new/{upload_id}/mapping")
def set_mapping(request: Request, upload_id: str, _admin: Admin, form: PostedForm) -> Response:
    upload = up.load_upload(services_of(request).dashboard.uploads, upload_id)
    up.save_mapping(up.with_mapping(upload, field(form, "task"), field(form, "text_column"),
                                    field(form, "label_column")))
    return redirect(request, f"/new/{upload_id}")


@router.post("/new/{upload_id}/fix")
def fix_row(request: Request, upload_id: str, _admin: Admin, form: PostedForm) -> Response:
    upload = up.load_upload(services_of(request).dashboard.uploads, upload_id)
    try:
        line = int(field(form, "line"))
    except ValueError:
        raise UsageError("which line? (a number)") from None
    up.replace_line(upload, line, None if field(form, "action") == "delete" else field(form, "text"))
    return redirect(request, f"/new/{upload_id}#row-{line}")


@router.post("/new/{upload_id}/start")
def start_run(request: Request, upload_id: str, _admin: Admin, form: PostedForm) -> Response:
    """Validate once more, then train in the background into the runs folder; go to the run page."""
    dashboard = services_of(request).dashboard
    upload = up.load_upload(dashboard.uploads, upload_id)
    preview = up.build_preview(upload)
    if not preview.ok:
        raise UsageError(f"the file still has {preview.errors} problem(s); fix them before training")
    name = check_name(field(form, "name").strip(), "run name")
    method = field(form, "method", "full")
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}", hint=f"choose one of {', '.join(METHODS)}")
    settings = services_of(request).settings
    model = check_base_model(settings, field(form, "model", "minilm") or "minilm")
    output = runs_folder(settings) / name
    if output.exists():
        raise ConflictError(f"a run named {name!r} exists already", hint="choose another name")
    overrides = [f"data.train={upload.path}", f"data.task={upload.task}",
                 f"data.text_column={upload.text_column}", f"data.label_column={upload.label_column}",
                 f"model.name={model}", f"train.method={method}",
                 f"output={output}"]
    epochs = field(form, "epochs").strip()
    if epochs:
        if not epochs.isdigit() or not 1 <= int(epochs) <= 100:
            raise UsageError("epochs must be a whole number from 1 to 100 (or empty: chosen from the data size)")
        overrides.append(f"train.epochs={int(epochs)}")
    config = load_config(None, [_quoted(o) for o in overrides])
    dashboard.jobs.start(config, name)
    return redirect(request, f"/runs/{name}")


def _quoted(override: str) -> str:
    """`key=value` with the value as a YAML string (paths and names are never read as numbers or lists)."""
    import json

    key, _, value = override.partition("=")
    return f"{key}={value}" if value.isdigit() else f"{key}={json.dumps(value)}"
