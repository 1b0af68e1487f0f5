# syntax=docker/dockerfile:1
# The isobox service image: one image for the API and the CodeRun operator.
#
#   docker run IMAGE                    -> `isobox serve` (the HTTP API on $PORT)
#   docker run IMAGE isobox operator    -> the CodeRun operator (kopf)
#
# The build never reaches a package index: it installs only the wheels found in
# ./wheels of the build context, which `hack/service-image/build.sh` (make
# service-image) prepares on the host with `pip wheel '.[all]'`. By hand:
#
#   pip wheel --wheel-dir wheels '.[all]'
#   docker build -t isobox:0.1.0 .
#
# BASE must be a Debian-based image with python3 (3.11, matching the wheels) and
# its venv module: python:3.11-slim for users, or the locally debootstrapped
# localhost/isobox/python-base:bookworm in CI (no registry pulls).
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
# Marks the intermediate image so that build scripts can prune it.
LABEL isobox.dev/stage=build
COPY wheels/ /wheels/
# A venv keeps the app apart from the base image's Python. Removed afterwards, to keep
# the image small: pip and setuptools (nothing installs packages at run time), test
# suites, and the kubernetes client's asyncio copy (kubernetes/aio, ~70 MB: isobox uses
# the blocking client, kopf its own aiohttp client). Everything is byte-compiled
# ahead of time because the root filesystem is read-only in the chart.
RUN python3 -m venv /opt/isobox \
 && /opt/isobox/bin/pip install --no-index --find-links=/wheels --no-cache-dir \
      --disable-pip-version-check --no-compile 'isobox[all]' \
 && /opt/isobox/bin/pip uninstall -y -q pip setuptools \
 && find /opt/isobox \( -name tests -o -name test \) -path '*/site-packages/*' \
      -type d -prune -exec rm -rf {} + \
 && rm -rf /opt/isobox/lib/python3.11/site-packages/kubernetes/aio \
 && /opt/isobox/bin/python -m compileall -q -j 0 /opt/isobox/lib \
 && /opt/isobox/bin/isobox --version

FROM ${BASE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="isobox" \
      org.opencontainers.image.description="Run untrusted code safely: the isobox API and CodeRun operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed non-root uid/gid (the chart's securityContext uses the same numbers).
RUN groupadd --system --gid 10001 isobox \
 && useradd --system -l --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin isobox

COPY --from=build /opt/isobox /opt/isobox

ENV PATH=/opt/isobox/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ISOBOX_HOST=0.0.0.0 \
    PORT=8000

USER 10001:10001
WORKDIR /tmp
EXPOSE 8000

# The API's liveness endpoint, with the interpreter already in the image (no curl).
# In a container running `isobox operator` there is no HTTP server: disable it there
# (docker run --no-healthcheck); Kubernetes ignores HEALTHCHECK and uses the chart's probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["isobox", "serve"]
