# One image for the three UrbanPulse services: `urbanpulse sim`, `urbanpulse ingest`
# and `urbanpulse api`, each configured only by URBANPULSE_* environment variables
# (see docker-compose.yml and docs/deployment.md).

# Build stage: setup.py compiles the ingester's per-reading modules with mypyc,
# which needs a C compiler; the full Python image has one, the slim one has not.
FROM python:3.11 AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Copy the distribution (.dockerignore keeps tests, docs, caches and .env out).
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged user: the services never need root.
RUN groupadd --system --gid 10001 urbanpulse \
    && useradd --system --uid 10001 --gid urbanpulse --create-home \
       --home-dir /home/urbanpulse --shell /usr/sbin/nologin urbanpulse

# Install the compiled wheel with its dependencies; the wheel is removed afterwards
# so the installed package is the only copy.
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels

# No .env in the image: pydantic-settings would read one from the working directory.
WORKDIR /home/urbanpulse
USER urbanpulse:urbanpulse

CMD ["urbanpulse", "--help"]
