# Dockerfile -- portlab for a classroom: one image, one command, data on a volume.
#
#   docker build -t portlab .
#   docker run -d --name portlab -p 8080:8080 -v portlab-data:/data \
#     -e PORTLAB_TEACHER_PASSWORD=change-me --read-only --tmpfs /tmp portlab
#
# Two stages on Debian 12: the build stage compiles portlab, installs the
# pinned front-end packages from web/package-lock.json and runs the unit
# tests; the runtime stage adds only the runtime libraries and the binary.
# BASE_IMAGE:BASE_TAG names the Debian 12 image (pinned); scripts/make-base-image.sh
# makes one locally (localhost/debian:12) where no registry is reachable, and
# scripts/build-image.sh builds this file with podman. See docs/classroom.md.
ARG BASE_IMAGE=docker.io/library/debian
ARG BASE_TAG=12.11-slim

FROM ${BASE_IMAGE}:${BASE_TAG} AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev make cmake pkg-config \
      gzip libwebsockets-dev libmicrohttpd-dev libcjson-dev libsqlite3-dev libssl-dev \
      libmd4c-dev libmd4c-html0-dev nodejs npm \
 && rm -rf /var/lib/apt/lists/*
# Set only where npm must trust an extra CA (a proxy): scripts/build-image.sh
# mounts the host's bundle for the build; nothing of it stays in the image.
ARG NPM_CONFIG_CAFILE
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTLAB_WERROR=ON >/dev/null \
 && cmake --build /build -j"$(nproc)" \
 && cd /build && ctest -R '^(unit|fuzz)\.' --output-on-failure -j"$(nproc)" \
 && strip --strip-debug -o /portlab /build/portlab

FROM ${BASE_IMAGE}:${BASE_TAG}
ARG DEBIAN_FRONTEND=noninteractive
ARG VERSION=0.1.0
ARG SOURCE=https://example.invalid/portlab
ARG LICENSES=NOASSERTION
LABEL org.opencontainers.image.title="portlab" \
      org.opencontainers.image.description="A browser lab for plaintext network protocols: portal, recorded WebSocket relay and lab servers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}"
RUN apt-get update \
 && apt-get install -y --no-install-recommends libwebsockets17 libmicrohttpd12 libcjson1 \
      libsqlite3-0 libssl3 libmd4c0 libmd4c-html0 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 portlab \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data --shell /usr/sbin/nologin portlab \
 && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /portlab /usr/local/bin/portlab
# Everything is a PORTLAB_* variable (or a flag after the image name).
# The lab servers listen inside the container: publish their ports to let
# students' own clients in, and set PORTLAB_LAB_PUBLIC_HOST to the address
# they dial, so FTP PASV names it.
ENV PORTLAB_LISTEN=0.0.0.0:8080 \
    PORTLAB_DB=/data/portlab.db \
    PORTLAB_LAB_BIND=0.0.0.0 \
    SQLITE_TMPDIR=/data
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
# Portal; lab FTP 10021, SSH 10022, Telnet 10023, SMTP 10025, WHOIS 10043,
# DNS (TCP) 10053, finger 10079, HTTP 10080, POP3 10110, IMAP 10143; with TLS
# HTTPS 10443, SMTPS 10465, submission 10587, FTPS 10990, IMAPS 10993, POP3S
# 10995 (every row of protocols/modules.c; tests/deploy checks it). FTP
# passive data ports are 30000-30099 (publish them with FTP).
EXPOSE 8080 10021 10022 10023 10025 10043 10053 10079 10080 10110 10143 10443 10465 10587 10990 10993 10995
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["/usr/local/bin/portlab", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/portlab"]
