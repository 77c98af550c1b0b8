#!/usr/bin/env bash
# Stops exactly what cluster/up.sh started: first the pods (through the kubelet, so that the CNI
# plugins release their addresses), then each recorded process by its pid, newest first; then the
# bridge, the iptables rules kube-proxy wrote, leftover mounts under the run directory, and the
# sysctls it changed. Processes it did not start are never touched.
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"

if [ ! -d "$RUN" ]; then echo "cluster: nothing to stop ($RUN does not exist)"; exit 0; fi

stop_pid() { # name
  local name=$1 pid
  ours_alive "$name" || { rm -f "$PIDS/$name.pid"; return 0; }
  pid=$(cat "$PIDS/$name.pid")
  step "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  # Gone, or a zombie (no executable) waiting to be reaped.
  for _ in $(seq 1 40); do readlink "/proc/$pid/exe" >/dev/null 2>&1 || break; sleep 0.25; done
  if readlink "/proc/$pid/exe" >/dev/null 2>&1; then echo "         $name did not stop in 10s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$PIDS/$name.pid"
}

if ours_alive kube-apiserver && ours_alive kubelet; then
  step "deleting every pod (the kubelet stops their containers and releases their network)"
  # Without the controllers nothing recreates them.
  stop_pid kube-controller-manager
  stop_pid kube-scheduler
  kubectl delete pods --all --all-namespaces --grace-period=1 --wait=false >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do
    [ -z "$(ctr_k8s tasks ls -q 2>/dev/null)" ] && break
    sleep 1
  done
fi

# Containers still running (the kubelet was gone or too slow): killed through our containerd,
# their network namespaces removed.
if ours_alive containerd; then
  left=$(ctr_k8s tasks ls -q 2>/dev/null || true)
  if [ -n "$left" ]; then
    step "killing $(echo "$left" | wc -l) leftover containers through containerd"
    for id in $left; do
      netns=$(ctr_k8s containers info "$id" 2>/dev/null | grep -o '"/var/run/netns/cni-[^"]*"' | tr -d '"' | head -1 || true)
      ctr_k8s tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
      for _ in $(seq 1 20); do ctr_k8s tasks ls -q | grep -qx "$id" || break; ctr_k8s tasks delete -f "$id" >/dev/null 2>&1 || sleep 0.25; done
      if [ -n "$netns" ] && [ -e "$netns" ]; then umount "$netns" 2>/dev/null || true; rm -f "$netns"; fi
    done
  fi
fi

# Processes, newest first.
if [ -f "$PIDS/order" ]; then
  tac "$PIDS/order" | while read -r name; do stop_pid "$name"; done
fi

step "network and host state"
if [ -x "$KUBE_BIN/kube-proxy" ]; then "$KUBE_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
# What remains are the kubelet's and kube-proxy's own KUBE-* chains (canaries, KUBE-FIREWALL).
for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null || continue
  for table in filter nat mangle; do
    jumps=$("$ipt" -t "$table" -S 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-' | sed 's/^-A/-D/' || true)
    while read -r rule; do [ -n "$rule" ] && { eval "\"\$ipt\" -t \"\$table\" $rule" 2>/dev/null || true; }; done <<< "$jumps"
    chains=$("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/{print $2}' || true)
    for c in $chains; do "$ipt" -t "$table" -F "$c" 2>/dev/null || true; done
    for c in $chains; do "$ipt" -t "$table" -X "$c" 2>/dev/null || true; done
  done
done
if [ -f "$RUN/bridge" ] && ip link show "$(cat "$RUN/bridge")" >/dev/null 2>&1; then
  # Veths of pods that were killed without the CNI plugin are removed with their bridge ports.
  for port in $(ls "/sys/class/net/$(cat "$RUN/bridge")/brif" 2>/dev/null); do ip link delete "$port" 2>/dev/null || true; done
  ip link delete "$(cat "$RUN/bridge")"
fi
# Mounts left under the run directory (volumes, container root filesystems), deepest first.
unmount_run
if [ -f "$RUN/sysctl.saved" ]; then
  while IFS='=' read -r k v; do sysctl -qw "$k=$v" 2>/dev/null || true; done < "$RUN/sysctl.saved"
  rm -f "$RUN/sysctl.saved"
fi
if [ -f "$RUN/kmsg-link" ] && [ -L /dev/kmsg ]; then rm -f /dev/kmsg; fi
rm -f "$RUN/bridge" "$PIDS/order" "$RUN/kmsg-link"
step "cluster stopped (logs and data kept in $RUN until the next cluster-up)"
