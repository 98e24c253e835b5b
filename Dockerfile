FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/dual-recording
COPY pyproject.toml README.md ./
COPY branch_agent branch_agent
COPY center_platform center_platform
COPY storage storage
RUN pip install --no-cache-dir .
USER nobody
