#!/usr/bin/env bash
# Installs what the images and the local cluster need from Debian, when missing: Docker
# (daemon), debootstrap (stand-in base image), etcd, containerd, runc, CNI plugins, conntrack,
# iptables, socat. Idempotent; needs root (apt-get).
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have dockerd || need+=(docker.io)
have debootstrap || need+=(debootstrap)
have etcd || need+=(etcd-server)
have containerd || need+=(containerd)
have runc || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
have conntrack || need+=(conntrack)
have iptables || need+=(iptables)
have socat || need+=(socat)
have openssl || need+=(openssl)
have ip || need+=(iproute2)
if [ ${#need[@]} -eq 0 ]; then echo "host packages: all present"; exit 0; fi
echo "installing from Debian: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# Debian's packages would try to start their services; nothing does here (no init system), and
# the cluster scripts start each daemon themselves with their own configuration.
apt-get install -y -q --no-install-recommends "${need[@]}"
