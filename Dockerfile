# One image for the three UrbanPulse services: `urbanpulse sim`, `urbanpulse ingest`
# and `urbanpulse api`, each configured only by URBANPULSE_* environment variables
# (see docker-compose.yml and docs/deployment.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged user: the services never need root.
RUN groupadd --system --gid 10001 urbanpulse \
    && useradd --system --uid 10001 --gid urbanpulse --create-home \
       --home-dir /home/urbanpulse --shell /usr/sbin/nologin urbanpulse

# Copy the distribution (.dockerignore keeps tests, docs, caches and .env out)
# and install it with its dependencies; the source folder is removed afterwards
# so the installed package is the only copy.
WORKDIR /src
COPY . .
RUN pip install . && rm -rf /src

# No .env in the image: pydantic-settings would read one from the working directory.
WORKDIR /home/urbanpulse
USER urbanpulse:urbanpulse

CMD ["urbanpulse", "--help"]
