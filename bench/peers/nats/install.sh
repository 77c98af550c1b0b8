#!/usr/bin/env bash
# Finds NATS's server, nats-server, as the peer for the topic benchmark (engine/bench/topic/), and
# prints its path on the last line of stdout. Uses $NATS_SERVER when set, else nats-server on PATH,
# else installs Debian's package (`apt-get install -y nats-server`, 2.9.x in Debian 12), which
# needs root (or passwordless sudo) and apt access. Exits non-zero with a message on stderr when
# none of that works; the benchmark then skips its NATS half with that message.
# No NATS code is kept in this repository.
set -euo pipefail

if [[ -n "${NATS_SERVER:-}" ]]; then
  if [[ -x "$NATS_SERVER" ]]; then
    echo "using \$NATS_SERVER: $NATS_SERVER" >&2
    echo "$NATS_SERVER"
    exit 0
  fi
  echo "NATS_SERVER=$NATS_SERVER is not an executable" >&2
  exit 1
fi

if bin="$(command -v nats-server)"; then
  echo "found $bin" >&2
  echo "$bin"
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "nats-server is not installed and there is no apt-get to install it with; install NATS server 2.9+ and put it on PATH (or set NATS_SERVER)" >&2
  exit 1
fi
sudo=()
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "nats-server is not installed and installing Debian's package needs root: run 'sudo apt-get install -y nats-server' (or set NATS_SERVER)" >&2
    exit 1
  fi
fi
echo "installing Debian's nats-server package" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing or stale on a fresh machine: update once if the first try fails.
if ! "${sudo[@]}" apt-get install -y -q nats-server >&2; then
  "${sudo[@]}" apt-get update -q >&2
  "${sudo[@]}" apt-get install -y -q nats-server >&2
fi
# Debian's package enables a system nats-server service; the benchmark runs its own nodes only.
if command -v systemctl >/dev/null && systemctl is-active --quiet nats-server 2>/dev/null; then
  "${sudo[@]}" systemctl disable --now nats-server >&2 || true
fi
bin="$(command -v nats-server)"
echo "installed $bin" >&2
echo "$bin"
