#!/usr/bin/env bash
# action.sh STEP: the steps of the composite GitHub Action (action.yml), run
# with bash on Linux, macOS and Windows runners. Everything comes in through
# the environment (never ${{ }} in a script):
#   ACTION_PATH      the action's own checkout (github.action_path)
#   RUNNER_OS/ARCH, RUNNER_TEMP, GITHUB_OUTPUT, GITHUB_SERVER_URL  the runner's
#   ACTION_REPOSITORY  github.action_repository ("" for uses: ./)
#
# Steps:
#   plan   A release commit (VERSION and SHA256SUMS beside action.yml, written
#          by the release workflow) downloads the release binary for this
#          runner and checks it against the pinned SHA256SUMS: the sums are in
#          the commit the consumer pinned, so no tag or release asset can be
#          swapped under it. Any other commit builds from source: outputs
#          mode=source and whether Go must be set up (it is used from PATH
#          when there).
#   key    (source) the cache key: Go version, OS/arch and a hash of every
#          file the build reads; outputs bin, cache-dir, cache-key, cached.
#   build  (source) go build ./cmd/sign-step into BIN.
set -euo pipefail

fail() {
	echo "::error title=sign-step action::$*"
	exit 1
}

if command -v sha256sum >/dev/null 2>&1; then
	sha256=(sha256sum)
else
	sha256=(shasum -a 256) # macOS
fi
sha256() { "${sha256[@]}" "$@"; }

# native turns a path into one that both bash and Windows programs accept.
native() {
	if command -v cygpath >/dev/null 2>&1; then
		cygpath -m "$1"
	else
		printf '%s\n' "$1"
	fi
}

output() {
	printf '%s\n' "$@" >>"${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
}

platform() {
	case ${RUNNER_OS:-} in
	Linux) os=linux ;;
	macOS) os=darwin ;;
	Windows) os=windows ;;
	*) fail "unsupported runner OS '${RUNNER_OS:-}' (want Linux, macOS or Windows)" ;;
	esac
	case ${RUNNER_ARCH:-} in
	X64) arch=amd64 ;;
	ARM64) arch=arm64 ;;
	*) fail "unsupported runner architecture '${RUNNER_ARCH:-}' (want X64 or ARM64)" ;;
	esac
	exe=
	if [ "$os" = windows ]; then exe=.exe; fi
}

plan() {
	: "${ACTION_PATH:?ACTION_PATH is not set}"
	if [ ! -f "$ACTION_PATH/SHA256SUMS" ] && [ ! -f "$ACTION_PATH/VERSION" ]; then
		setup_go=true
		if command -v go >/dev/null 2>&1; then setup_go=false; fi
		output mode=source "setup-go=$setup_go"
		return
	fi
	[ -f "$ACTION_PATH/SHA256SUMS" ] && [ -f "$ACTION_PATH/VERSION" ] ||
		fail "a release commit has both VERSION and SHA256SUMS beside action.yml; found only one"
	version=$(tr -d '\r\n' <"$ACTION_PATH/VERSION")
	printf '%s\n' "$version" | grep -Eqx 'v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?' ||
		fail "VERSION is not vMAJOR.MINOR.PATCH[-PRE]"
	platform
	asset=sign-step-$os-$arch$exe
	want=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1 }' "$ACTION_PATH/SHA256SUMS")
	printf '%s\n' "$want" | grep -Eqx '[0-9a-f]{64}' ||
		fail "SHA256SUMS has no single sum for $asset"

	dir=$(native "${RUNNER_TEMP:?RUNNER_TEMP is not set}")/sign-step-$version-$os-$arch
	bin=$dir/sign-step$exe
	if [ -f "$bin" ] && [ "$(sha256 "$bin" | cut -d' ' -f1)" = "$want" ]; then
		output mode=release "bin=$bin"
		return
	fi
	repo=${ACTION_REPOSITORY:-${GITHUB_REPOSITORY:-}}
	# SIGN_STEP_RELEASE_URL: a mirror (GHES, an air-gapped proxy); the pinned
	# sum decides either way.
	base=${SIGN_STEP_RELEASE_URL:-${GITHUB_SERVER_URL:-https://github.com}/$repo/releases/download/$version}
	mkdir -p "$dir"
	tmp=$dir/.download-$$
	trap 'rm -f "$tmp"' EXIT
	echo "sign-step action: downloading $asset $version"
	curl -fsSL --proto '=https' --tlsv1.2 --retry 3 -o "$tmp" "$base/$asset" ||
		fail "downloading $base/$asset failed"
	got=$(sha256 "$tmp" | cut -d' ' -f1)
	[ "$got" = "$want" ] ||
		fail "$asset from $base has sha256 $got, but the release commit pins $want: not run"
	chmod +x "$tmp"
	mv -f "$tmp" "$bin"
	output mode=release "bin=$bin"
}

key() {
	: "${ACTION_PATH:?ACTION_PATH is not set}"
	command -v go >/dev/null 2>&1 || fail "no go on PATH after setup-go"
	goenv=$(go env GOVERSION GOOS GOARCH | tr -d '\r' | tr '\n' '-')
	# Every file the build reads: go.mod, go.sum and the non-test files
	# under cmd/ and internal/ (file names are part of the hash).
	src=$(cd "$ACTION_PATH" && find go.mod go.sum cmd internal -type f ! -name '*_test.go' ! -path '*/testdata/*' | LC_ALL=C sort | tr '\n' '\0' | xargs -0 "${sha256[@]}" | sha256 | cut -c1-32)
	dir=$(native "${RUNNER_TEMP:?RUNNER_TEMP is not set}")/sign-step-src-$src
	exe=
	case $goenv in *-windows-*) exe=.exe ;; esac
	bin=$dir/sign-step$exe
	cached=false
	if [ -x "$bin" ]; then cached=true; fi
	output "bin=$bin" "cache-dir=$dir" "cache-key=sign-step-bin-${goenv}$src" "cached=$cached" "version=source-${src:0:12}"
}

build() {
	: "${ACTION_PATH:?ACTION_PATH is not set}" "${BIN:?BIN is not set}" "${VERSION:?VERSION is not set}"
	echo "sign-step action: building ./cmd/sign-step from $ACTION_PATH with $(go version)"
	mkdir -p "$(dirname "$BIN")"
	# -mod=readonly: exactly what go.mod and go.sum pin; GOWORK=off: no
	# go.work of the consumer's workspace takes part.
	(cd "$ACTION_PATH" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly \
		go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$BIN.tmp" ./cmd/sign-step)
	mv -f "$BIN.tmp" "$BIN"
}

case ${1:-} in
plan | key | build) "$1" ;;
*)
	echo "usage: $0 plan|key|build" >&2
	exit 2
	;;
esac
