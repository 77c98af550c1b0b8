#!/usr/bin/env bash
# Builds a stand-in for the Node.js base image the Dockerfiles start from (default
# node:20-bookworm-slim), for machines that can reach Debian's package mirror but no container
# registry: a minimal Debian bookworm from debootstrap, plus this host's Node.js 20 (binary,
# headers and npm, at the paths the official image uses: /usr/local/{bin,include,lib}), a
# `node` user with uid 1000, imported into Docker under the base image's name. The Dockerfiles
# stay the ones users build against the real image.
#
#   cluster/base-image.sh [IMAGE]     (default node:20-bookworm-slim; skipped if Docker has it)
#   FORCE=1 cluster/base-image.sh     rebuild even if present
set -euo pipefail
image=${1:-node:20-bookworm-slim}
cache=${LEVIATHAN_CACHE:-$HOME/.cache/leviathan}
if [ -z "${FORCE:-}" ] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image: present in Docker ($(docker image inspect -f '{{index .Config.Labels "dev.leviathan.stand-in"}}' "$image" | sed 's/^true$/stand-in/;s/^$/upstream/'))"
  exit 0
fi
node=$(command -v node)
major=$("$node" -p 'process.versions.node.split(".")[0]')
if [ "$major" != 20 ]; then echo "base image: needs this host's Node.js 20, found $("$node" --version)" >&2; exit 1; fi
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
headers=$(dirname "$(dirname "$node")")/include/node
[ -f "$headers/node.h" ] || { echo "base image: Node.js headers not found at $headers" >&2; exit 1; }
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

root=$cache/base-image/rootfs
rm -rf "$root"; mkdir -p "$root"
t=$SECONDS
echo "== debootstrap bookworm (minbase) from $mirror"
# libstdc++6 for node; ca-certificates as in the official image's build stage expectations.
debootstrap --variant=minbase --include=libstdc++6,ca-certificates bookworm "$root" "$mirror" \
  > "$cache/base-image/debootstrap.log" 2>&1 || { tail -30 "$cache/base-image/debootstrap.log" >&2; exit 1; }
echo "   done in $((SECONDS - t))s"

echo "== adding Node.js $("$node" --version) from $node, headers, npm"
install -m 0755 "$node" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/include" "$root/usr/local/lib/node_modules"
cp -a "$headers" "$root/usr/local/include/node"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
# This machine's trust store (it may hold a TLS-intercepting proxy's CA); Node.js reads it
# through NODE_EXTRA_CA_CERTS, so npm inside builds trusts what the host trusts.
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
# apt inside builds uses this host's mirror configuration.
cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/" 2>/dev/null || true
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
echo "== importing into Docker as $image"
tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$("$node" -p process.versions.node)" \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'LABEL dev.leviathan.stand-in=true' \
  --change 'CMD ["node"]' - "$image" >/dev/null
rm -rf "$root"
docker run --rm "$image" node -e 'console.log("   node", process.version, "npm OK:", require("fs").existsSync("/usr/local/lib/node_modules/npm"))'
echo "base image $image: built in $((SECONDS - t))s"
