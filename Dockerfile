# syntax=docker/dockerfile:1
# The druid-k8s server image. Build from the repository root:
#   docker build -t druid-k8s:0.1.0 .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p druid-k8s-server --bin druid-k8s \
    && install -D -m 0755 target/release/druid-k8s /out/druid-k8s

# A static-ish glibc binary on a minimal, shell-less, non-root base.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/druid-k8s /usr/local/bin/druid-k8s
COPY examples /usr/share/druid-k8s/examples
USER 65532:65532
EXPOSE 8090
ENTRYPOINT ["/usr/local/bin/druid-k8s"]
CMD ["serve", "--config", "/etc/druid-k8s/runtime.properties"]
