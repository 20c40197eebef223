# Builds the techbalance binary; used by docker-compose.yml.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin techbalance

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/techbalance techbalance \
 && mkdir -p /var/lib/techbalance && chown techbalance /var/lib/techbalance
COPY --from=build /src/target/release/techbalance /usr/local/bin/techbalance
USER techbalance
WORKDIR /var/lib/techbalance
ENV TECHBALANCE_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["techbalance"]
CMD ["serve"]
