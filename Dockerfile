# syntax=docker/dockerfile:1
#
# The rototo-operator image.
#
#   builder  builds the project's wheel and a wheel for every dependency (compilers live here
#            only, for the rare dependency without a binary wheel on the target platform)
#   runtime  installs those wheels offline into the slim base: no compiler, no pip cache,
#            no source tree; runs as uid 65532 with `rototo-operator run` as the entrypoint
#
# Build: `make image` (IMAGE=rototo-operator:dev by default). The base is pinned by tag in one
# place; override PYTHON_IMAGE to pin a digest (python:3.11-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install --yes --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the wheel needs (see .dockerignore): metadata first, so the dependency layer is
# reused while only the sources change.
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="rototo-operator" \
      org.opencontainers.image.description="Kubernetes operator that keeps reviewed rototo workspaces flowing from git into running pods without restarts." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    TMPDIR=/tmp
# A fixed numeric uid/gid, so `runAsNonRoot` can verify it without reading /etc/passwd.
RUN groupadd --system --gid 65532 rototo \
    && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin rototo \
    && install --directory --owner 65532 --group 65532 --mode 0750 /var/cache/rototo
# Offline install from the builder's wheels, mounted rather than copied so no layer keeps them.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels rototo-operator \
    && rototo-operator --help > /dev/null
USER 65532:65532
WORKDIR /tmp
# /var/cache/rototo holds the git cache; the chart mounts emptyDirs there and at /tmp, since the
# root filesystem is read-only in the pod.
EXPOSE 8080
ENTRYPOINT ["rototo-operator", "run"]
CMD ["--cache-dir=/var/cache/rototo"]
