"""The container image and the compose file, checked where Docker is absent (CI): the Dockerfile's rules (pinned
base and torch, CPU wheel index, non-root user, health check), the compose wiring (PostgreSQL healthy before the
schema step, the schema step before the replicas, nginx over both replicas), and the compose services' commands
run as plain processes with their environment on the test PostgreSQL: two replicas that behave as one registry."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.serving.test_crash import _env, _free_port

ROOT = Path(__file__).resolve().parents[2]


def dockerfile() -> list[str]:
    """Instructions of the Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8")))


def test_dockerfile_rules() -> None:
    lines = dockerfile()
    base = lines[0].split()
    assert base[0] == "FROM" and ":" in base[1] and not base[1].endswith(":latest"), "pin the base image's tag"
    runs = [line for line in lines if line.startswith("RUN ")]
    torch = next(line for line in runs if "torch" in line)
    assert "torch==2.13.0" in torch and "download.pytorch.org/whl/cpu" in torch  # never the CUDA build
    assert runs.index(torch) < next(i for i, line in enumerate(runs) if "requirements.lock" in line)
    user = [i for i, line in enumerate(lines) if line.startswith("USER ")]
    assert user and lines[user[-1]].split()[1] not in ("root", "0"), "the server runs as a non-root user"
    assert all(i < user[-1] for i, line in enumerate(lines) if line.startswith(("RUN ", "COPY ")))
    health = next(line for line in lines if line.startswith("HEALTHCHECK "))
    assert "/v1/health" in health
    assert not any(line.startswith("ADD ") for line in lines), "COPY local files; never ADD a URL"
    assert "TUNELAB_HOST=0.0.0.0" in " ".join(lines)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".git", "runs"} <= set(ignored)


def test_compose_wiring() -> None:
    services = compose()["services"]
    replicas = [name for name, s in services.items() if s.get("command") == ["tunelab", "serve"]]
    assert len(replicas) == 2
    assert services["init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in replicas:
        s = services[name]
        assert s["depends_on"]["init"]["condition"] == "service_completed_successfully"
        assert s["environment"]["TUNELAB_DB"].startswith("postgresql://")
        assert s["environment"]["TUNELAB_DB"] == services["init"]["environment"]["TUNELAB_DB"]
    nginx = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    upstream = re.findall(r"server (\S+):8000", nginx)
    assert sorted(upstream) == sorted(replicas)
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in services["proxy"]["volumes"]


def as_process(service: dict[str, Any], db: str, home: Path, port: int) -> tuple[list[str], dict[str, str]]:
    """A compose service's command and environment, pointed at the test database, home and a loopback port."""
    command = [sys.executable, "-m", "tunelab", *service["command"][1:]]
    env = _env(home)
    env.update({k: str(v) for k, v in service["environment"].items()})
    env.update(TUNELAB_DB=db, TUNELAB_HOME=str(home), TUNELAB_RUNS_ROOT=str(home / "runs"),
               TUNELAB_HOST="127.0.0.1", TUNELAB_PORT=str(port), TUNELAB_PRECISION="fp32",
               TUNELAB_LOG_LEVEL="warning")
    return command, env


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the replica exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/v1/ready", timeout=2.0, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} was not ready within {timeout:.0f} s")


def test_compose_services_run_as_plain_processes(pg_url: str, tmp_path: Path,
                                                 served_runs: dict[str, Path]) -> None:
    services = compose()["services"]
    home = tmp_path / "home"
    (home / "runs").mkdir(parents=True)
    shutil.copytree(served_runs["intents_a"], home / "runs" / "intents")
    command, env = as_process(services["init"], pg_url, home, 0)
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
    key = subprocess.run([sys.executable, "-m", "tunelab", "keys", "create", "--name", "ops", "--scopes",
                          "admin,predict", "-q"], env=env, check=True, capture_output=True, text=True,
                         timeout=60).stdout.strip()
    headers = {"Authorization": f"Bearer {key}"}
    processes: list[subprocess.Popen] = []
    urls = []
    try:
        for name in ("tunelab-1", "tunelab-2"):
            port = _free_port()
            command, env = as_process(services[name], pg_url, home, port)
            processes.append(subprocess.Popen(command, env=env, cwd=home, stdin=subprocess.DEVNULL,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(urls, processes):
            wait_healthy(url, process)
        registered = httpx.post(f"{urls[0]}/v1/models/intents/versions", headers=headers, trust_env=False,
                                json={"run_path": str(home / "runs" / "intents")}, timeout=30)
        assert registered.status_code == 201, registered.text
        answer = httpx.post(f"{urls[1]}/v1/models/intents/predict", headers=headers, trust_env=False,
                            json={"inputs": ["refund my order please"]}, timeout=60)
        assert answer.status_code == 200, answer.text  # registered through one replica, served by the other
        assert answer.json()["predictions"][0]["label"]
        assert httpx.get(f"{urls[1]}/v1/health", trust_env=False).status_code == 200
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=30)
