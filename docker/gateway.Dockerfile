# The gateway image: docker build -f docker/gateway.Dockerfile .
# Multi-stage: the Rust toolchain stays in the build stage; the runtime image holds the binary,
# the CA roots and nothing else, and runs as a non-root user.
FROM rust:1.95-slim-bookworm AS build
# .git is not in the build context: pass --build-arg GIT_REVISION=$(git rev-parse HEAD) for
# --version and llm_gateway_build_info to name the commit (else `unknown`).
ARG GIT_REVISION=unknown
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p llm-gateway \
 && cp target/release/llm-gateway /llm-gateway

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/llm-gateway --create-home gateway
COPY --from=build /llm-gateway /usr/local/bin/llm-gateway
USER 10001
WORKDIR /var/lib/llm-gateway
EXPOSE 9748
ENTRYPOINT ["/usr/local/bin/llm-gateway"]
CMD ["--config.file=/etc/llm-gateway/gateway.yaml", "--web.listen-address=:9748"]
