# syntax=docker/dockerfile:1
# sign-step's container image: a static binary and a CA bundle on scratch.
#
#   docker build -t sign-step .                   # non-root image (GitLab, Jenkins, Kubernetes)
#   docker build --target action -t sign-step:action .   # the GitHub Action's image (root, as GitHub requires)
#   docker build --target shell -t sign-step:shell .     # with a busybox shell, for GitLab script: and Jenkins sh steps
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# The Makefile's build: static (no cgo), reproducible paths, stripped.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sign-step ./cmd/sign-step

# GitHub runs Docker actions as root (a USER cannot write the workspace or the
# runner's file commands), so the action gets its own target.
FROM scratch AS action
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/sign-step /sign-step
ENTRYPOINT ["/sign-step"]

# GitLab's script: and Jenkins' docker agent need a shell in the image.
FROM busybox:1.37-musl AS shell
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/sign-step /sign-step
USER 65532:65532
ENTRYPOINT ["/sign-step"]

# The default image: the same two files, run as an unprivileged user.
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/sign-step /sign-step
USER 65532:65532
ENTRYPOINT ["/sign-step"]
