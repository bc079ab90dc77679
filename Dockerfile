# The wallet API image. Stages: base (dependencies, then code), test (base plus
# tests/, for `docker compose run --rm tests`), runtime (the default: gunicorn).
# Python 3.11 on Debian bookworm: the interpreter and distribution CI runs on.
FROM python:3.11-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/srv/wallet \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent wallet

WORKDIR /srv/wallet

# Dependencies first, in their own layer: a code change does not reinstall them.
# Only the runtime part of requirements.txt (above its "# Tests and lint" line).
COPY requirements.txt ./
RUN sed '/^# Tests and lint/,$d' requirements.txt > /tmp/runtime.txt && pip install -r /tmp/runtime.txt

COPY config.py gunicorn.conf.py ./
COPY app ./app
COPY schemas ./schemas
COPY reports ./reports


FROM base AS test

RUN pip install -r requirements.txt
# The whole checkout (minus .dockerignore): the deployment tests read the compose files too.
COPY . ./
# The code is owned by root and read-only to the test user: no cache directory.
ENV PYTEST_ADDOPTS="-p no:cacheprovider"
USER wallet
CMD ["python", "-m", "pytest", "-q", "-rs"]


FROM base AS runtime

# HOST/PORT: where gunicorn listens. WORKERS applies only with MONGO_URI: the
# embedded engine keeps its data inside one process, so it always gets one worker
# (gunicorn.conf.py decides, and sets the worker class and the read deadlines).
ENV HOST=0.0.0.0 \
    PORT=8080 \
    WORKERS=2

USER wallet
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8080') + '/health', timeout=4)"]

# No access log: the app writes one JSON line per request (app/web/observability.py).
# Exec form: gunicorn itself is PID 1 and receives SIGTERM from `docker stop`.
CMD ["gunicorn", "--config", "gunicorn.conf.py", "--worker-tmp-dir", "/dev/shm", "app:create_app()"]
