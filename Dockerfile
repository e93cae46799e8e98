# syntax=docker/dockerfile:1
#
# Open Music Streaming: one process, one data directory, one container.
#
# Build (BuildKit, the default since Docker 23; `docker buildx build` works the same):
#   docker build -t oms .
#
# Run (the node listens on 8000; all state lives in the /data volume):
#   docker run -d --name oms --init --stop-timeout 40 \
#     -p 127.0.0.1:8000:8000 -v oms-data:/data \
#     -e OMS_SERVER_PUBLIC_URL=https://music.example.org \
#     -e OMS_SERVER_FORWARDED_ALLOW_IPS=172.17.0.1 \
#     -e OMS_METRICS_TOKEN=change-me \
#     oms
#   docker exec oms oms doctor            # other `oms` commands run the same way
#   docker run --rm -v oms-data:/data oms config   # show effective settings and their origin
#
# --stop-timeout 40: `docker stop` waits 10 s by default before SIGKILL, but the node gives
# requests in flight and background work up to server.shutdown_timeout (30 s) to finish.
# (Compose: `stop_grace_period: 40s`.) --init adds a tiny PID 1 that reaps stray processes.
#
# Settings a deployer typically sets (every setting is OMS_<SECTION>_<NAME>; etc/oms.toml
# documents them all, with defaults, and oms/config.py declares them):
#   OMS_SERVER_PUBLIC_URL          public origin, e.g. https://music.example.org; its hostname
#                                  names the node's identities (did:web), so set it before the
#                                  first account is created
#   OMS_SERVER_FORWARDED_ALLOW_IPS address(es) of the reverse proxy trusted for
#                                  X-Forwarded-For/-Proto (see etc/nginx.conf.example); a
#                                  proxy on the Docker host connects from the bridge
#                                  gateway, 172.17.0.1 on the default bridge
#   OMS_METRICS_TOKEN              when set, /metrics requires "Authorization: Bearer <token>"
#   OMS_LOG_LEVEL                  debug | info | warning | error (default info)
#   OMS_NODE_NAME                  the collective's name shown to visitors
#   OMS_JOBS_CONCURRENCY           background jobs (transcodes) at once; 0 = one per CPU core
#   OMS_DATA_MIN_FREE_MB           free space under /data below which /readyz fails
#   OMS_SECRETS_KEY                optional: 32 random bytes (64 hex digits or base64) that
#                                  seal everything in /data/keys with AES-256-GCM; make one
#                                  with `openssl rand -hex 32`, keep it out of /data and its
#                                  backups, and pass it with --env-file rather than -e
# Set here (change only with care): OMS_DATA_DIR=/data OMS_SERVER_HOST=0.0.0.0
#   OMS_SERVER_PORT=8000 OMS_LOG_FORMAT=json.
# A config file instead of (or under) the environment: mount it at /opt/oms/etc/oms.toml,
# the working directory's default config path, e.g. -v ./oms.toml:/opt/oms/etc/oms.toml:ro
# (environment variables still win over the file).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
# builder: wheels for OMS and every dependency, so the runtime stage needs no compiler.
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Compilers for dependencies without a prebuilt wheel for this platform (most ship
# manylinux wheels for amd64 and arm64; gcc covers the C extensions that do not).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libffi-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that a code change does not rebuild them.
COPY pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip wheel --wheel-dir /wheels --requirement /tmp/requirements.txt

# Then OMS itself (hatchling; web/, lexicons/ and etc/oms.toml are bundled into the wheel
# under oms/_bundled, see [tool.hatch.build.targets.wheel.force-include]).
COPY README.md ./
COPY oms/ oms/
COPY web/ web/
COPY lexicons/ lexicons/
COPY etc/oms.toml etc/oms.toml
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir /wheels --no-deps . \
    && ls -l /wheels

# ---------------------------------------------------------------------------------------------
# runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="Open Music Streaming" \
      org.opencontainers.image.description="A self-hostable ATProto music node for artist collectives" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later"

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

# ffmpeg and ffprobe for the media pipeline (media.ffmpeg = "auto" finds them on PATH).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

# Wheels only, no index: exactly what the builder resolved. The bind mount keeps /wheels
# out of the image's layers.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/oms-*.whl \
    && oms --help > /dev/null

# An unprivileged user with a fixed uid/gid (10001), so a bind-mounted data directory can be
# chowned to it on the host: chown -R 10001:10001 /srv/oms-data
RUN groupadd --system --gid 10001 oms \
    && useradd --system --uid 10001 --gid oms --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin oms \
    && mkdir -p /data /opt/oms/etc \
    && chown oms:oms /data \
    && chmod 0750 /data

ENV OMS_DATA_DIR=/data \
    OMS_SERVER_HOST=0.0.0.0 \
    OMS_SERVER_PORT=8000 \
    OMS_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /opt/oms
USER 10001:10001
VOLUME /data
EXPOSE 8000

# No curl in slim images: ask /healthz with the standard library. Reads OMS_SERVER_PORT so a
# changed port keeps the check right; any error or non-2xx answer exits non-zero.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('OMS_SERVER_PORT', '8000') + '/healthz', timeout=4)"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["oms"]
CMD ["serve"]
