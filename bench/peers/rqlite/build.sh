#!/usr/bin/env bash
# Builds rqlite's server, rqlited, at one pinned release from its Go module, as a peer for the SQL
# benchmark (engine/bench/sql/), and prints the binary's path on the last line of stdout. Skips
# the build when ~/.cache/leviathan/bin/rqlited-<version> is already there. No rqlite code is
# kept in this repository: the module comes from the Go module proxy (GOPROXY as configured)
# into a throw-away wrapper module under the cache, which carries the release's own replace
# directives (go install pkg@version refuses modules that have them). cgo builds rqlite's SQLite
# driver, so gcc must be installed. The first build takes a few minutes.
set -euo pipefail

version="${RQLITE_VERSION:-v8.36.0}"
cache="${LEVIATHAN_CACHE:-$HOME/.cache/leviathan}"
bin="$cache/bin/rqlited-$version"

if [[ -x "$bin" ]]; then
  echo "up to date: $bin" >&2
  echo "$bin"
  exit 0
fi

work="$cache/build/rqlite-$version"
mkdir -p "$work" "$(dirname "$bin")"
echo "building $bin (rqlite $version, cgo) in $work" >&2
cat >"$work/go.mod" <<MOD
module leviathan.bench/rqlite-peer

go 1.22.7

require github.com/rqlite/rqlite/v8 $version

// Copied from rqlite $version's go.mod: replace directives of a dependency are not applied.
replace (
	github.com/armon/go-metrics => github.com/hashicorp/go-metrics v0.5.1
	golang.org/x/text => golang.org/x/text v0.3.8
)
MOD
: >"$work/go.sum"
start=$SECONDS
(
  cd "$work"
  export CGO_ENABLED=1 GOFLAGS="-mod=mod -buildvcs=false -trimpath"
  go build -o "$bin.tmp" \
    -ldflags "-X github.com/rqlite/rqlite/v8/cmd.Version=$version" \
    github.com/rqlite/rqlite/v8/cmd/rqlited
)
mv -f "$bin.tmp" "$bin"
echo "built $bin in $((SECONDS - start)) s" >&2
echo "$bin"
