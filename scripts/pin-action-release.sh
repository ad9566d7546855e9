#!/bin/sh
# pin-action-release.sh DIR VERSION SUMS: turn DIR (the checkout of the
# release commit) into a release commit of the action: DIR/VERSION holds
# VERSION and DIR/SHA256SUMS a copy of SUMS, the release's checksums. The
# action (scripts/action.sh plan) then downloads the release binary for the
# runner and runs it only if its sha256 is the one pinned here, in the commit
# the consumer pinned: whoever can replace a release asset or move a tag
# cannot change what runs with the consumer's key. SUMS must hold exactly one
# well-formed line for each of the six binaries and nothing else; otherwise
# nothing is written. The release workflow runs this (make pin-action-release).
set -eu
if [ $# -ne 3 ]; then
	echo "usage: $0 DIR vMAJOR.MINOR.PATCH[-PRE] SHA256SUMS" >&2
	exit 2
fi
dir=$1 version=$2 sums=$3
if ! printf '%s\n' "$version" | grep -Eqx 'v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.]+)?'; then
	echo "pin-action-release: version '$version' is not vMAJOR.MINOR.PATCH[-PRE]" >&2
	exit 2
fi
[ -f "$sums" ] || {
	echo "pin-action-release: no file $sums" >&2
	exit 2
}
want="sign-step-darwin-amd64 sign-step-darwin-arm64 sign-step-linux-amd64 sign-step-linux-arm64 sign-step-windows-amd64.exe sign-step-windows-arm64.exe"
# grep, not awk: mawk has no {64}.
if grep -Evxq '[0-9a-f]{64}  sign-step-(linux|darwin|windows)-(amd64|arm64)(\.exe)?' "$sums"; then
	echo "pin-action-release: $sums has a line that is not '<64 hex>  sign-step-OS-ARCH[.exe]'" >&2
	exit 2
fi
got=$(cut -c67- "$sums" | LC_ALL=C sort | tr '\n' ' ')
if [ "$got" != "$want " ]; then
	echo "pin-action-release: $sums names '$got', want each of '$want' once" >&2
	exit 2
fi
for f in "$dir/VERSION" "$dir/SHA256SUMS"; do
	if [ -e "$f" ]; then
		echo "pin-action-release: $f exists: this commit is already a release commit" >&2
		exit 2
	fi
done
printf '%s\n' "$version" >"$dir/VERSION"
cp "$sums" "$dir/SHA256SUMS"
echo "pin-action-release: $dir is the action's $version release commit (VERSION, SHA256SUMS)"
