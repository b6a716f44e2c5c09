# The dispatchbus worker. Configured only through DISPATCHBUS_* environment
# variables (see dispatchbus.settings); docker-compose.yml sets them.
#
#   docker build -t dispatchbus .
#   docker run -e DISPATCHBUS_KAFKA__BOOTSTRAP_SERVERS=broker:9092 dispatchbus

FROM python:3.11.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A compiler, in case a dependency has no wheel for this platform; it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/dispatchbus
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY streams ./streams
COPY connectors ./connectors
COPY schemas ./schemas
# `pip install .` at the dependency versions the test suite ran with.
RUN /opt/dispatchbus/bin/pip install --constraint requirements.lock .

FROM python:3.11.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PATH=/opt/dispatchbus/bin:$PATH
COPY --from=build /opt/dispatchbus /opt/dispatchbus
RUN useradd --system --uid 10001 --home-dir /var/lib/dispatchbus --create-home dispatchbus \
    && install -d -o dispatchbus -g dispatchbus /var/lib/dispatchbus/worker

USER dispatchbus
WORKDIR /var/lib/dispatchbus

# In a container the web server (GET /metrics) must listen beyond loopback,
# and the worker keeps its state in the home folder (a volume in docker-compose.yml).
ENV DISPATCHBUS_WORKER__WEB_HOST=0.0.0.0 \
    DISPATCHBUS_WORKER__WEB_PORT=6066 \
    DISPATCHBUS_WORKER__DATA_DIR=/var/lib/dispatchbus/worker
EXPOSE 6066

HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('DISPATCHBUS_WORKER__WEB_PORT', '6066') + '/metrics', timeout=4)"]

ENTRYPOINT ["dispatchbus"]
CMD ["worker"]
