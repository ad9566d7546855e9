#!/bin/sh
# pin-action-image.sh FILE IMAGE: point FILE's (action.yml's) runs.image at
# docker://IMAGE. IMAGE must be pinned by digest, REGISTRY/REPOSITORY@sha256:<64
# hex>: whoever can push a tag can move it, and would then run with every
# consumer's signing key; a digest cannot be moved. The release workflow runs
# this (make pin-action-image) on the release commit.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 action.yml REGISTRY/REPOSITORY@sha256:<64 hex>" >&2
	exit 2
fi
file=$1
image=${2#docker://}
if ! printf '%s\n' "$image" | grep -Eqx '[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+@sha256:[0-9a-f]{64}'; then
	echo "pin-action-image: $image is not REGISTRY/REPOSITORY@sha256:<64 hex> (a tag is not a pin)" >&2
	exit 2
fi
tmp=$(mktemp "$file.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# Only the image: key directly under the top-level runs: map; inputs and
# comments are left alone. Exactly one such line, or nothing is written.
if ! awk -v img="docker://$image" '
	/^[^ #]/ { section = $0 }
	section ~ /^runs:/ && /^  image:/ { print "  image: " img; n++; next }
	{ print }
	END { if (n != 1) { printf "pin-action-image: %d runs.image lines, want 1\n", n > "/dev/stderr"; exit 1 } }
' "$file" >"$tmp"; then
	exit 1
fi
cat "$tmp" >"$file"
echo "pin-action-image: $file runs docker://$image"
