# Multi-stage build of the tmprov programs on Debian bookworm.
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential pkg-config git librdkafka-dev libcurl4-openssl-dev libjansson-dev \
      libxml2-dev libpq-dev libmicrohttpd-dev libsodium-dev libsystemd-dev \
    && rm -rf /var/lib/apt/lists/*
# The version --version prints and the User-Agent carries: .dockerignore leaves .git out, so
# `make image` (docker-compose.yml's build args) passes `git describe` in.
ARG TMPROV_VERSION=unknown
WORKDIR /src
COPY . .
# The compose file runs tmsim beside the production programs, hence the development tools too.
RUN make all install install-devtools PREFIX=/opt/tmprov VERSION="$TMPROV_VERSION"

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      librdkafka1 libcurl4 libjansson4 libxml2 libpq5 libmicrohttpd12 libsodium23 libsystemd0 \
      ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home tmprov
COPY --from=build /opt/tmprov /opt/tmprov
ENV PATH=/opt/tmprov/bin:$PATH
USER tmprov
