# One image for every service: `adpilot serve <service>` picks which one runs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY adpilot ./adpilot
COPY sandbox ./sandbox
RUN pip install . && useradd --system --uid 10001 adpilot
USER adpilot

EXPOSE 8080 8081 8082 8083
CMD ["adpilot", "--help"]
