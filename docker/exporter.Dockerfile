# One image per exporter: docker build --build-arg EXPORTER=aws -f docker/exporter.Dockerfile .
# Multi-stage: the Rust toolchain stays in the build stage; the runtime image holds the binary,
# the CA roots and nothing else, and runs as a non-root user.
FROM rust:1.95-slim-bookworm AS build
ARG EXPORTER=aws
# .git is not in the build context: pass --build-arg GIT_REVISION=$(git rev-parse HEAD) for
# --version and llm_exporter_build_info to name the commit (else `unknown`).
ARG GIT_REVISION=unknown
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p llm-exporter-${EXPORTER} \
 && cp target/release/llm-exporter-${EXPORTER} /exporter

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/llm-exporter --create-home exporter
COPY --from=build /exporter /usr/local/bin/llm-exporter
USER 10001
WORKDIR /var/lib/llm-exporter
ENTRYPOINT ["/usr/local/bin/llm-exporter"]
CMD ["--demo"]
