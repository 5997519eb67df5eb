# Flowdeck as a container image: gunicorn serving the app (static files included) as a
# non-root user. Build: docker build -t flowdeck .   Run: see compose.yaml and docs/deploy.md.
# The exact versions CI passed with come from constraints.txt.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE NOTICE constraints.txt ./
COPY platform ./platform
COPY schemas ./schemas
RUN pip install --no-cache-dir --upgrade pip \
 && pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt '.[redis]'

FROM python:3.11-slim-bookworm
# CJK fonts for PDF output of Chinese text; the PostgreSQL client for `flowdeck backup`.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-noto-cjk postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/flowdeck --uid 10001 flowdeck
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'flowdeck[redis]' && rm -rf /wheels
USER flowdeck
WORKDIR /var/lib/flowdeck
ENV FLOWDECK_INSTANCE=/var/lib/flowdeck/instance \
    FLOWDECK_HOST=0.0.0.0 \
    FLOWDECK_PORT=8000 \
    FLOWDECK_WORKERS=2 \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/flowdeck/instance"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status == 200 else 1)"]
# Serves only a database whose system migrations are current: run `flowdeck upgrade`
# (compose.yaml's migrate service) after installing a newer image.
CMD ["flowdeck", "run"]
