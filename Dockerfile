# TuneLab server image: CPU, slim, non-root, the bundled MiniLM included (it is a pinned pip dependency).
#   docker build -t tunelab .
#   docker run -p 8000:8000 -e TUNELAB_DB=postgresql://... -v $PWD/runs:/data/runs tunelab
# compose.yaml runs PostgreSQL, two replicas and a proxy; see "Run it as a service" in the README.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TUNELAB_HOME=/data \
    TUNELAB_HOST=0.0.0.0 \
    TUNELAB_PORT=8000

WORKDIR /app
# torch first, exact pin, from the CPU wheel index: anything looser pulls a multi-gigabyte CUDA build
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin tunelab \
    && mkdir -p /data/runs \
    && chown -R tunelab:tunelab /data

USER tunelab
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"TUNELAB_PORT\", \"8000\")}/v1/health', timeout=2)"]
CMD ["tunelab", "serve"]
