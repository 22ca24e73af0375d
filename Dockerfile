# syntax=docker/dockerfile:1
#
# The idbatch image: one static binary, a non-root user, CA certificates
# (from the distroless base) and nothing else. README "Scale out".
#
#   docker build -t idbatch .
#   docker run --rm idbatch version
#
# `idbatch version` prints the module version and the VCS revision. Both
# reach the binary in either of two ways; the build uses whichever it has:
#
#   1. .git in the build context (a regular clone; .dockerignore keeps .git):
#      go build stamps the VCS revision, time and modified flag (-buildvcs),
#      and the module version from the tag (runtime/debug.ReadBuildInfo).
#   2. No usable .git (a source tarball, a git worktree whose .git is a file
#      pointing outside the context, a CI that strips it): pass them in:
#        docker build --build-arg VERSION=v1.4.0 --build-arg REVISION=$(git rev-parse HEAD) -t idbatch:v1.4.0 .
#      They are linked in with -X main.version=… -X main.revision=….
#
# When both are there, cmd/idbatch chooses what it prints (the stamped VCS
# information first); `go version -m` on the binary shows the stamp.
#
# deploy/dockerfile_test.go checks this file's structure and runs its build
# command on the host.

# Go version: go.mod's go line (1.26); the image's latest 1.26.x patch.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0
# Dependencies first: this layer is reused until go.mod or go.sum changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=""
ARG REVISION=""
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    set -eu; \
    buildvcs=false; \
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then buildvcs=true; fi; \
    CGO_ENABLED=0 go build -trimpath -buildvcs="$buildvcs" \
      -ldflags="-s -w${VERSION:+ -X main.version=$VERSION}${REVISION:+ -X main.revision=$REVISION}" \
      -o /out/idbatch ./cmd/idbatch

# distroless static: CA certificates, tzdata, /etc/passwd with nonroot
# (65532), no shell, no package manager.
FROM gcr.io/distroless/static-debian13:nonroot
COPY --from=build /out/idbatch /usr/local/bin/idbatch
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/idbatch"]
CMD ["help"]
