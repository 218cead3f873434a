# The image of the generated drift CronJob: `mlopsc drift` with its extra, as a non-root user
# (the pod runs under the restricted Pod Security profile with a read-only root file system).
# Build it, push it, pin it by digest and name it in monitoring.drift.image (docs/monitoring.md).
# Pin the base by digest in your registry mirror too (FROM python:3.11-slim@sha256:...).
FROM python:3.11-slim
ARG MLOPSC_VERSION=0.1.0
RUN pip install --no-cache-dir "mlopsc[drift]==${MLOPSC_VERSION}" \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin drift
USER 10001
ENTRYPOINT ["mlopsc", "drift"]
