#!/usr/bin/env bash
# Makes sure a Docker daemon answers: uses the running one, or starts dockerd in the background
# (log and pid in ~/.cache/leviathan/dockerd/). `cluster/dockerd.sh stop` stops only a daemon this
# script started, by its recorded pid.
set -euo pipefail
dir=${LEVIATHAN_CACHE:-$HOME/.cache/leviathan}/dockerd
mkdir -p "$dir"
case "${1:-start}" in
  start)
    if docker info >/dev/null 2>&1; then echo "docker: daemon running"; exit 0; fi
    echo "docker: starting dockerd (log: $dir/dockerd.log)"
    # No bridge and no iptables rules of Docker's own: builds use the host network, and the
    # local cluster's kube-proxy owns the nat table.
    nohup dockerd --bridge=none --iptables=false --ip-masq=false \
      --pidfile "$dir/dockerd.pid" >"$dir/dockerd.log" 2>&1 </dev/null &
    echo $! > "$dir/dockerd.started-pid"
    for _ in $(seq 1 60); do
      if docker info >/dev/null 2>&1; then echo "docker: ready"; exit 0; fi
      sleep 1
    done
    echo "docker: dockerd did not answer within 60s; last lines of its log:" >&2
    tail -20 "$dir/dockerd.log" >&2
    exit 1 ;;
  stop)
    if [ -f "$dir/dockerd.started-pid" ]; then
      pid=$(cat "$dir/dockerd.started-pid")
      if kill -0 "$pid" 2>/dev/null; then echo "docker: stopping dockerd (pid $pid)"; kill "$pid"; fi
      rm -f "$dir/dockerd.started-pid"
    else
      echo "docker: no daemon started by this script"
    fi ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
