# sign-step's container image: a static binary and a CA bundle on scratch.
#
#   docker build -t sign-step .                        # the last stage: non-root (GitLab, Jenkins, Kubernetes)
#   docker build --target shell -t sign-step:shell .   # with a busybox shell, for GitLab script: and Jenkins sh steps
#
# The GitHub Action does not use this image: it is a composite action that runs
# the release binary or builds from source on the runner (action.yml). The
# build needs BuildKit (the default `docker build` with buildx): the legacy
# builder has no $BUILDPLATFORM.
#
# Base images are pinned by digest; the tag beside it is only a label (the
# digest wins). Where each digest comes from, Docker's own per-tag record
# (docker-library/repo-info, repos/<image>/remote/<tag>.md):
#   golang:1.26 (Go 1.26.8, 2026-09-19): MarcelRaschke/repo-info@c110818d8de0, a
#     mirror of docker-library/repo-info; the same digest is pinned in other public Dockerfiles
#   busybox:1.37-musl (2026-08-02): docker-library/repo-info@acdd5a4d4c31
# Dependabot (.github/dependabot.yml) proposes new digests. There is no
# "# syntax=" line: BuildKit's built-in frontend is used, not an image pulled by tag.

# The build stage runs on the build platform and cross-compiles, so the
# release needs no emulator.
FROM --platform=$BUILDPLATFORM golang:1.26@sha256:0f063af2d465d8dcae54cce04278ada488b96f77b42449c8d071e47d016cc65a AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
# The Makefile's build (static, no cgo, reproducible paths, stripped) for the
# target platform; -mod=readonly builds exactly what go.mod and go.sum pin.
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -mod=readonly -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sign-step ./cmd/sign-step

# GitLab's script: and Jenkins' docker agent need a shell in the image.
FROM busybox:1.37-musl@sha256:fc6dddc4c44b1bfe37f41cae8e67d1693828e8f42a91862816d7953e2c9d3f23 AS shell
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/sign-step /sign-step
USER 65532:65532
ENTRYPOINT ["/sign-step"]

# The image: the same two files, run as an unprivileged user (the release
# publishes it as ghcr.io/OWNER/sign-step:VERSION). Last, so a plain
# `docker build .` builds it.
FROM scratch AS nonroot
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/sign-step /sign-step
USER 65532:65532
ENTRYPOINT ["/sign-step"]

