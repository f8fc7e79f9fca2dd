# Dépêche: French news article -> English translation + key points.
#
# CPU image (default):
#   docker build -t depeche .
# CUDA image (needs the NVIDIA container toolkit on the host to use the GPU):
#   docker build -t depeche:cuda --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
#
# Models are not baked in: mount a folder or volume at /app/models and fill it with
#   docker run --rm -v depeche-models:/app/models depeche python scripts/fetch_models.py
# (or copy models/<local_dir>/ folders into it), then run with DEPECHE_OFFLINE=1 if you like.
# The first start converts them to CTranslate2 into the same volume (models/<name>-ct2-int8,
# -ct2-float16 on CUDA) and serves those; later starts reuse them.
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY requirements.txt requirements.lock ./
# torch first, from the chosen index and the pin in requirements.txt (its +cpu / +cu128 builds
# both satisfy it), so pip does not pull the default CUDA build from PyPI; requirements.lock
# leaves torch out for that reason. Then the rest at the lock's exact versions and hashes.
RUN pip install --index-url "${TORCH_INDEX_URL}" "$(grep -E '^torch==' requirements.txt)"
RUN pip install --require-hashes -r requirements.lock

RUN groupadd --gid 10001 depeche \
    && useradd --create-home --home-dir /home/depeche --uid 10001 --gid 10001 depeche \
    && mkdir -p /app/models/.hf-cache /app/data \
    && chown -R 10001:10001 /app/models /app/data

# Code stays root-owned (read-only to the service); only /app/models and /app/data (jobs) are
# writable.
COPY service/ ./service/
COPY scripts/ ./scripts/
COPY --chown=10001:10001 models/manifest.json ./models/manifest.json

USER 10001:10001

# MALLOC_ARENA_MAX: two glibc malloc arenas instead of one per thread, so that CTranslate2's
# worker threads reuse each other's freed buffers (scripts/serve.sh says why).
ENV DEPECHE_HOST=0.0.0.0 \
    DEPECHE_PORT=8000 \
    MALLOC_ARENA_MAX=2 \
    DEPECHE_MODELS_DIR=/app/models \
    HF_HOME=/app/models/.hf-cache

EXPOSE 8000

# /ready answers 200 once both models are loaded (503 before). The first start with a new models
# volume converts both models to CTranslate2 first (a few minutes on a small CPU, README
# "Engines and precision"), hence the long start period; later starts take seconds.
HEALTHCHECK --interval=30s --timeout=5s --start-period=600s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ready' % os.environ.get('DEPECHE_PORT', '8000'), timeout=4)"]

CMD ["python", "-m", "service", "serve"]
