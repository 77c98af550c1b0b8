#!/usr/bin/env bash
# Builds the etcd raft benchmark binary (see main.go) and prints its path on
# the last line of stdout. Skips the build when the binary is newer than every
# source file. Needs only the Go toolchain and the Go module proxy; go.sum pins
# every module, and -mod=readonly refuses to build if it would have to change.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${LEVIATHAN_CACHE:-$HOME/.cache/leviathan}/bin/etcd-raft-bench"

if [[ ! -x "$bin" || -n "$(find "$src" -maxdepth 1 -type f \( -name '*.go' -o -name go.mod -o -name go.sum -o -name build.sh \) -newer "$bin")" ]]; then
  mkdir -p "$(dirname "$bin")"
  echo "building $bin" >&2
  (cd "$src" && GOFLAGS="-mod=readonly -buildvcs=false -trimpath" go build -o "$bin.tmp" . && mv -f "$bin.tmp" "$bin")
else
  echo "up to date: $bin" >&2
fi
echo "$bin"
