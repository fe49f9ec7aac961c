# The baum binary, built from this repository, in a small image that runs as
# an unprivileged user. docker-compose.yaml runs it as `zeros`, `ones` and
# `kafka-topics`. Alone:
#   docker build -t baum .
#   docker run --rm baum env          # every BAUM_* variable
# Base images are pinned to exact versions (never `latest`); TestDockerfile
# checks that, and that the Go image matches go.mod's go line.

# ---- build ------------------------------------------------------------------
# The official Go image sets GOTOOLCHAIN=local, so it must be at least the
# version go.mod names. $BUILDPLATFORM: the compiler runs natively and
# cross-compiles to the target (arm64 Macs build without emulation).
FROM --platform=$BUILDPLATFORM golang:1.26.8-alpine AS build
WORKDIR /src

# Modules first: a change to the code does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
ARG TARGETOS
ARG TARGETARCH
# CGO_ENABLED=0: one static binary that needs nothing from the image.
#
# GOAMD64=v1 on purpose, not v3: the bit counting (app/bits) is assembly
# that picks its kernel at start-up from the CPU's flags — AVX-512
# VPOPCNTDQ, else AVX2, else POPCNT, else pure Go — so it runs at full speed
# on any x86-64 whatever GOAMD64 says: GOAMD64 changes what the compiler
# emits, not hand-written assembly (BenchmarkOnes reaches the same ~70-78 GB/s
# on one 256 KiB chunk built either way). v3 would speed up nothing that
# matters here and would make the image refuse to start on CPUs without AVX2
# (older servers, some virtual machines). Never add -tags purego: it removes
# the assembly kernels.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOAMD64=v1 \
    go build -trimpath -ldflags="-s -w" -o /out/baum ./cmd/baum \
 && mkdir /out/data

# ---- run --------------------------------------------------------------------
FROM alpine:3.23.3
COPY --from=build /out/baum /usr/local/bin/baum
# The data directory belongs to the service's user. An empty named volume
# mounted here starts as a copy of it, ownership included.
COPY --from=build --chown=10001:10001 /out/data /data
USER 10001:10001
ENV BAUM_DATA_DIR=/data
EXPOSE 8000 8080
# /readyz on the port of BAUM_HTTP_ADDR (see `baum health -h`). The start
# period covers BAUM_STARTUP_TIMEOUT (60 s) of waiting for PostgreSQL and Kafka.
HEALTHCHECK --interval=10s --timeout=5s --start-period=90s --retries=3 CMD ["baum", "health"]
ENTRYPOINT ["baum"]
CMD ["serve"]
