# One image for every service: `adpilot serve <service>` picks which one runs. The gateway
# also serves the dashboard at / and the API reference at /docs, built in the first stage.

# --- the dashboard and Swagger UI's files, built with Node.js ---------------------------
FROM node:20-slim AS front-end
WORKDIR /src
# Dependencies first, so a change of source alone reuses the installed layers.
COPY clients/typescript/package.json clients/typescript/package-lock.json clients/typescript/.npmrc clients/typescript/
RUN cd clients/typescript && npm ci --no-audit --no-fund
COPY web/package.json web/package-lock.json web/.npmrc web/
RUN cd web && npm ci --no-audit --no-fund
COPY clients/typescript clients/typescript
COPY web web
RUN cd web && npm run build \
    && cd ../clients/typescript && node scripts/docs.mjs /src/swagger-ui

# --- the services ------------------------------------------------------------------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    ADPILOT_DASHBOARD_DIR=/app/front-end/dashboard \
    ADPILOT_DOCS_DIR=/app/front-end/swagger-ui

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY adpilot ./adpilot
COPY sandbox ./sandbox
# The user is named by number, so that Kubernetes' runAsNonRoot can tell it is not root.
RUN pip install . \
    && groupadd --system --gid 10001 adpilot \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin adpilot
COPY --from=front-end /src/web/dist /app/front-end/dashboard
COPY --from=front-end /src/swagger-ui /app/front-end/swagger-ui
USER 10001:10001

# The services' ports (gateway, decision, alerts, optimizer), then the sandbox's.
EXPOSE 8080 8081 8082 8083 8090
CMD ["adpilot", "--help"]
