# Multi-stage build: the builder installs raceday into a virtualenv; the runtime image copies only that.
FROM python:3.12-slim AS builder
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir .

FROM python:3.12-slim
# The archives folder exists before compose mounts a volume on it, so the volume is the user's.
RUN useradd --system --uid 10001 --create-home --home-dir /home/raceday raceday \
 && install -d -o raceday /home/raceday/archives
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0
USER raceday
WORKDIR /home/raceday
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=10s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://localhost:3000/health', timeout=5).status == 200 else 1)"]
CMD ["raceday", "run"]
