# closeloop as a container image: build the `closeloop` binary from the
# workspace, run it on Debian slim as an unprivileged user.
#
#   docker build -t closeloop .
#   docker run --rm closeloop --help
#
# docker-compose.yml builds this image for every closeloop role.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The Kafka backend builds the bundled librdkafka (C): the rust image has
# the compiler, make and perl it needs; cmake covers rdkafka's cmake build.
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p closeloop \
    && install -D -m 0755 target/release/closeloop /out/closeloop

FROM debian:bookworm-slim
# curl: the compose health checks ask /-/ready with it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 closeloop \
    && useradd --system --uid 10001 --gid closeloop --home-dir /var/lib/closeloop \
        --shell /usr/sbin/nologin closeloop \
    && install -d -o closeloop -g closeloop -m 0750 /var/lib/closeloop \
    && install -d -m 0755 /etc/closeloop
COPY --from=build /out/closeloop /usr/local/bin/closeloop
USER closeloop:closeloop
WORKDIR /var/lib/closeloop
ENV CLOSELOOP_DATA_DIR=/var/lib/closeloop \
    CLOSELOOP_LISTEN=0.0.0.0:9470
EXPOSE 9470
VOLUME ["/var/lib/closeloop"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:9470/-/ready || exit 1
ENTRYPOINT ["/usr/local/bin/closeloop"]
CMD ["serve"]
