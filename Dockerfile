# simforge: one binary for the server, workers and the CLI.
#   docker build -t simforge .
#   docker run --rm simforge --help
# Build stage: the Rust toolchain the project is tested with.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p simforge \
 && install -D target/release/simforge /out/simforge

# Runtime: a slim Debian with CA certificates, running as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/simforge --uid 10001 simforge
COPY --from=build /out/simforge /usr/local/bin/simforge
USER simforge
WORKDIR /var/lib/simforge
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/simforge"]
CMD ["serve", "--config", "/etc/simforge/server.yaml", "--profile", "prod"]
