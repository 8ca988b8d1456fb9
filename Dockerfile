# lyanna-worker image. Build: docker build -t lyanna-worker:0.1.0 .
# Two stages: a Rust toolchain stage that compiles the dependencies in their own cached layer
# (rebuilt only when a Cargo.toml or Cargo.lock changes), then the sources; and a distroless
# runtime stage holding only the binary (glibc, CA certificates, no shell, non-root).
# Without a Docker engine: scripts/image builds this same file with buildah (CI does), passing
# local stand-ins for the two base images where no registry can be reached.
# The base images are build arguments only so that scripts/image can pass those stand-ins; the
# defaults are the images this file is meant for.
ARG RUST_VERSION=1.95
ARG BUILD_IMAGE=rust:${RUST_VERSION}-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /src

# 1. Dependencies: the workspace's manifests (every member's Cargo.toml), the bench sources
# (Cargo.toml names them, so cargo will not read the manifest without them; they are not
# built) and stub sources.
COPY Cargo.toml Cargo.lock ./
COPY task-api/Cargo.toml task-api/
COPY tasks/Cargo.toml tasks/
COPY benches benches
RUN mkdir -p src task-api/src tasks/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs task-api/src/lib.rs tasks/src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src task-api/src tasks/src

# 2. The real sources. COPY keeps the files' old modification times, which can be older than
# the stub build's outputs: touch them so cargo rebuilds the workspace crates.
COPY src src
COPY task-api/src task-api/src
COPY tasks/src tasks/src
RUN touch src/main.rs src/lib.rs task-api/src/lib.rs tasks/src/lib.rs \
    && cargo build --release --locked \
    && target/release/lyanna-worker --version

# Runtime: distroless cc (glibc of the same Debian release as the build stage).
FROM ${RUNTIME_IMAGE}
COPY --from=build /src/target/release/lyanna-worker /usr/local/bin/lyanna-worker
# 65532:65532, "nonroot" in distroless; the DaemonSet also sets runAsNonRoot.
USER 65532:65532
# glibc keeps freed big blocks unless its mmap threshold is fixed: by default every big free
# raises the threshold (up to 32 MiB), so the next big payloads come from the heap and stay
# resident after their job (a 30 MB string job: 95 MiB after it, 10 MiB with these; README,
# "Big payloads"). Small allocations, the hot path, are unaffected.
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=4194304
# The admin server: /livez, /readyz, /metrics (Kubernetes probes them; no HEALTHCHECK here).
EXPOSE 8080
ENTRYPOINT ["lyanna-worker"]
CMD ["--settings", "WorkerSettings"]
