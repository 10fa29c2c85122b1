# syntax=docker/dockerfile:1
# The scaleset-image operator image: `scaleset-image run`, as a non-root user, on a read-only root filesystem.
#
#   docker build -t <registry>/scaleset-image-operator:0.1.0 .
#
# Runtime dependencies come only from requirements.lock (exact pins, installed without resolution and then
# checked with `pip check`); the project itself is installed without dependencies on top of them.
# Both stages use the same pinned Python image, so the virtualenv's interpreter links resolve in the final one.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/scaleset-image
ENV PATH=/opt/scaleset-image/bin:$PATH
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY controller ./controller
# pip compiles the bytecode here, so nothing needs to be written at runtime; pip and setuptools are not
# needed at runtime either and leave the image.
RUN pip install --no-deps . \
    && pip check \
    && python -m pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="scaleset-image-operator" \
      org.opencontainers.image.description="Kubernetes operator that rolls OS images across Azure VM scale sets one update domain at a time" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    PATH=/opt/scaleset-image/bin:$PATH
# Root owns the code; the operator's user can read it, never change it.
COPY --from=build /opt/scaleset-image /opt/scaleset-image
# A numeric UID/GID (the conventional "nonroot" 65532), so Kubernetes can verify runAsNonRoot.
USER 65532:65532
# 8080: kopf liveness endpoint (--liveness); 9090: Prometheus metrics (--metrics-port).
EXPOSE 8080 9090
ENTRYPOINT ["scaleset-image", "run"]
CMD ["--all-namespaces"]
