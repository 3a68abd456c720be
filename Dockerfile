# The portal's assets are built with npm (the map library comes from the npm registry, never a CDN);
# the service image carries the built files and no Node.js.
# Base images are pinned to exact releases, so a rebuild gets the same runtime.
FROM node:20.18.3-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend frontend
RUN mkdir -p publishers/portal/static && npm run build

FROM python:3.11.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY collectors collectors
COPY geo geo
COPY publishers publishers
COPY service service
COPY simulator simulator
COPY config config
COPY --from=assets /src/publishers/portal/static/build publishers/portal/static/build
# Editable install: the app serves its data files (boundaries, catalogs, built assets) from the tree.
RUN pip install --no-cache-dir -e . \
 && pybabel -q compile -d publishers/portal/locales -D messages \
 && useradd --system --home /app bosai && mkdir -p /app/var && chown bosai /app/var
USER bosai
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz').status == 200 else 1)"
CMD ["bosai", "run", "--config", "config/docker.toml", "--host", "0.0.0.0", "--port", "8080"]
