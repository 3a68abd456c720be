FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY collectors collectors
COPY geo geo
COPY publishers publishers
COPY service service
COPY simulator simulator
COPY config config
RUN pip install --no-cache-dir . && useradd --system --home /app bosai && mkdir -p /app/var && chown bosai /app/var
USER bosai
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz').status == 200 else 1)"
CMD ["bosai", "run", "--config", "config/docker.toml", "--host", "0.0.0.0", "--port", "8080"]
