# Shared by cluster/up.sh and cluster/down.sh: paths and addresses of the local cluster.
# shellcheck shell=bash
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
source "$here/versions.sh"

CLUSTER_DIR=${LEVIATHAN_CLUSTER_DIR:-$LEVIATHAN_CACHE/cluster}
KUBECONFIG_OUT=$CLUSTER_DIR/kubeconfig       # the admin kubeconfig (printed by cluster-up)
RUN=$CLUSTER_DIR/run                         # everything of one bring-up; wiped by the next one
PKI=$RUN/pki
PIDS=$RUN/pids
LOGS=$RUN/logs
CONTAINERD_SOCK=$RUN/containerd/containerd.sock

# Every address of the cluster lives on one bridge this script creates: the node's address is
# the pod network's gateway, so pods reach the API server, and nothing listens beyond this
# machine. Pod and Service ranges are private and unused here.
NODE_NAME=leviathan-node
BRIDGE=lvth0
POD_CIDR=10.200.0.0/24
NODE_IP=10.200.0.1
SERVICE_CIDR=10.201.0.0/24
KUBERNETES_SVC_IP=10.201.0.1
DNS_IP=10.201.0.10
CLUSTER_DOMAIN=cluster.local
APISERVER=https://$NODE_IP:6443
ETCD_CLIENT=http://127.0.0.1:23790
ETCD_PEER=http://127.0.0.1:23800

PAUSE_IMAGE=leviathan.local/pause:$KUBE_VERSION
COREDNS_IMAGE=leviathan.local/coredns:$COREDNS_VERSION

kubectl() { "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" "$@"; }
ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

START=${START:-$SECONDS}
step() { printf '[%4ss] %s\n' "$((SECONDS - START))" "$*"; }
fail() { printf 'cluster: %s\n' "$*" >&2; exit 1; }

# A process we started: its pid file exists and that pid is alive with the command we recorded.
ours_alive() {
  local name=$1 pid
  [ -f "$PIDS/$name.pid" ] || return 1
  pid=$(cat "$PIDS/$name.pid")
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the recorded executable must still be the one running.
  # (A binary rebuilt while the cluster runs shows as "path (deleted)": still ours.)
  local exe; exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [ "${exe% (deleted)}" = "$(cat "$PIDS/$name.exe")" ]
}

# Unmounts whatever is mounted under the run directory (pod volumes, container root filesystems),
# deepest first.
unmount_run() {
  awk -v run="$RUN" '$2 == run || index($2, run "/") == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}
