#!/usr/bin/env bash
# Brings up a single-node Kubernetes cluster made of upstream components on this machine:
# etcd, containerd, runc and the CNI plugins from Debian; kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet and kube-proxy built from k8s.io/kubernetes at one pinned release;
# CoreDNS built from its Go module (cluster names only, no upstream forwarding); a local-path
# provisioner (cluster/local-path-provisioner.ts) so that PersistentVolumeClaims bind; a pause
# image built from the same release's pause.c. No image is pulled: the pause, CoreDNS and our
# images are imported straight into containerd.
#
#   cluster/up.sh [IMAGE ...]     images (from the local Docker) to import into the cluster
#
# Needs root (network bridge, iptables, mounts). Every process it starts is recorded in
# ~/.cache/leviathan/cluster/run/pids/ and cluster/down.sh stops exactly those.
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"
cd "$repo"   # node --import tsx resolves tsx from the repository's node_modules
images=("$@")

[ "$(id -u)" = 0 ] || fail "needs root (it creates a bridge, iptables rules and mounts)"
if [ -d "$PIDS" ]; then
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    n=$(basename "$f" .pid)
    if ours_alive "$n"; then fail "already running ($n, pid $(cat "$f")): run cluster/down.sh first"; fi
  done
fi
if ip link show "$BRIDGE" >/dev/null 2>&1; then fail "bridge $BRIDGE exists: a previous cluster was not taken down (cluster/down.sh)"; fi

step "binaries: kubernetes $KUBE_VERSION, coredns $COREDNS_VERSION (cached in $LEVIATHAN_CACHE)"
"$here/build-binaries.sh" kube
"$here/build-binaries.sh" coredns
for b in etcd containerd runc iptables conntrack openssl; do command -v "$b" >/dev/null || fail "$b missing: run cluster/host-deps.sh"; done
[ -x /usr/lib/cni/bridge ] || fail "CNI plugins missing: run cluster/host-deps.sh"

# A previous run's leftovers (its processes are gone: checked above).
unmount_run
rm -rf --one-file-system "$RUN"
mkdir -p "$PKI" "$PIDS" "$LOGS" "$RUN/etcd" "$RUN/containerd" "$RUN/kubelet" "$RUN/cni/net.d" "$RUN/cni/ipam" "$RUN/volumes" "$RUN/manifests"
echo "$KUBE_VERSION" > "$RUN/version"

# Starts a daemon in its own session, output to logs/NAME.log, pid and executable recorded.
start() {
  local name=$1; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" > "$PIDS/$name.pid"
  readlink -f "$1" > "$PIDS/$name.exe"
  echo "$name" >> "$PIDS/order"
}
wait_for() { # what timeout-seconds command...
  local what=$1 timeout=$2; shift 2
  local t=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS - t > timeout )); then
      echo "cluster: $what not ready after ${timeout}s" >&2
      for l in "$LOGS"/*.log; do echo "--- last lines of $l" >&2; tail -15 "$l" >&2; done
      exit 1
    fi
    sleep 1
  done
}

# ---------------------------------------------------------------------------------------------
step "certificates (openssl) in $PKI"
cert() { # name CN O [SANs]
  local name=$1 cn=$2 o=$3 san=${4:-}
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "/CN=$cn${o:+/O=$o}" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$san" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"; else echo "extendedKeyUsage=clientAuth"; fi
  } > "$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=leviathan-local-ca" -days 30 -sha256 -out "$PKI/ca.crt" 2>/dev/null
cert apiserver kube-apiserver "" "IP:$NODE_IP,IP:$KUBERNETES_SVC_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN"
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
cert admin leviathan-admin system:masters
cert controller-manager system:kube-controller-manager ""
cert scheduler system:kube-scheduler ""
cert kubelet "system:node:$NODE_NAME" system:nodes
cert kube-proxy system:kube-proxy ""
openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null

kubeconfig() { # file user
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: leviathan-local
  cluster:
    server: $APISERVER
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: leviathan-local
  context: {cluster: leviathan-local, user: $2}
current-context: leviathan-local
EOF
}
for u in controller-manager scheduler kubelet kube-proxy; do kubeconfig "$RUN/$u.kubeconfig" "$u"; done
kubeconfig "$KUBECONFIG_OUT" admin

# ---------------------------------------------------------------------------------------------
step "network: bridge $BRIDGE ($NODE_IP, pods $POD_CIDR, services $SERVICE_CIDR), forwarding, bridge netfilter"
# Remember the sysctls we change, so that cluster/down.sh puts them back.
for s in net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables; do echo "$s=$(sysctl -n "$s")"; done > "$RUN/sysctl.saved"
ip link add "$BRIDGE" type bridge
echo "$BRIDGE" > "$RUN/bridge"
ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
ip link set "$BRIDGE" up
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.bridge.bridge-nf-call-iptables=1
cat > "$RUN/cni/net.d/10-leviathan.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "leviathan",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$RUN/cni/ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
# Pods resolve through CoreDNS only; a pod with dnsPolicy Default gets this empty file rather
# than the host's resolvers.
: > "$RUN/resolv.conf"

# ---------------------------------------------------------------------------------------------
step "etcd $(etcd --version | awk '/etcd Version/{print $3}') on ${ETCD_CLIENT#http://}"
start etcd "$(command -v etcd)" --name leviathan --data-dir "$RUN/etcd" \
  --listen-client-urls "$ETCD_CLIENT" --advertise-client-urls "$ETCD_CLIENT" \
  --listen-peer-urls "$ETCD_PEER" --initial-advertise-peer-urls "$ETCD_PEER" \
  --initial-cluster "leviathan=$ETCD_PEER" \
  --quota-backend-bytes 2147483648
wait_for etcd 30 curl -fsS "$ETCD_CLIENT/health"

# Bit 24 of the capability bounding set is CAP_SYS_RESOURCE.
if (( (16#$(awk '/^CapBnd/{print $2}' /proc/self/status) >> 24) & 1 )); then restrict_oom=false; else restrict_oom=true; fi
step "containerd $(containerd --version | awk '{print $3}') (socket $CONTAINERD_SOCK)"
cat > "$RUN/containerd/config.toml" <<EOF
version = 2
root = "$RUN/containerd/root"
state = "$RUN/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_selinux = false
  # Where processes lack CAP_SYS_RESOURCE (this VM's bounding set drops it), nothing may lower its
  # oom_score_adj: the kubelet's negative values (-998 for sandboxes) are clamped to containerd's.
  restrict_oom_score_adj = $restrict_oom
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RUN/cni/net.d"
[plugins."io.containerd.internal.v1.opt"]
  path = "$RUN/containerd/opt"
EOF
start containerd "$(command -v containerd)" --config "$RUN/containerd/config.toml"
wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version

step "images: pause and CoreDNS (built here), then ${images[*]:-no others}"
img_dir=$RUN/images
mkdir -p "$img_dir/pause" "$img_dir/coredns"
cp "$KUBE_BIN/pause" "$img_dir/pause/pause"
printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$img_dir/pause/Dockerfile"
cp "$COREDNS_BIN" "$img_dir/coredns/coredns"
printf 'FROM scratch\nCOPY coredns /coredns\nENTRYPOINT ["/coredns"]\n' > "$img_dir/coredns/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t "$PAUSE_IMAGE" "$img_dir/pause" >/dev/null
DOCKER_BUILDKIT=0 docker build -q -t "$COREDNS_IMAGE" "$img_dir/coredns" >/dev/null
for image in "$PAUSE_IMAGE" "$COREDNS_IMAGE" "${images[@]}"; do
  docker image inspect "$image" >/dev/null 2>&1 || fail "image $image is not in the local Docker (make images)"
  docker save "$image" | ctr_k8s images import - >/dev/null
  echo "         imported $image"
done
rm -rf "$img_dir"

# ---------------------------------------------------------------------------------------------
step "kube-apiserver $KUBE_VERSION on $APISERVER"
start kube-apiserver "$KUBE_BIN/kube-apiserver" \
  --advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port=6443 \
  --etcd-servers="$ETCD_CLIENT" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --client-ca-file="$PKI/ca.crt" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP \
  --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --allow-privileged=true --profiling=false --endpoint-reconciler-type=lease \
  --event-ttl=1h
wait_for kube-apiserver 120 kubectl get --raw /readyz

step "kube-controller-manager, kube-scheduler"
start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
  --kubeconfig="$RUN/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$RUN/controller-manager.kubeconfig" --authorization-kubeconfig="$RUN/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --use-service-account-credentials=true \
  --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false
start kube-scheduler "$KUBE_BIN/kube-scheduler" \
  --kubeconfig="$RUN/scheduler.kubeconfig" \
  --authentication-kubeconfig="$RUN/scheduler.kubeconfig" --authorization-kubeconfig="$RUN/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --profiling=false

step "kubelet (node $NODE_NAME, cgroupfs driver)"
# The kubelet's OOM watcher reads /dev/kmsg; some containers and VMs have none (kind links it
# to /dev/console the same way). Removed again by cluster/down.sh.
if [ ! -e /dev/kmsg ]; then ln -s /dev/console /dev/kmsg && touch "$RUN/kmsg-link"; fi
cat > "$RUN/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
failSwapOn: false
clusterDNS: [$DNS_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: $RUN/resolv.conf
podCIDR: $POD_CIDR
maxPods: 60
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
evictionPressureTransitionPeriod: 10s
registerNode: true
oomScoreAdj: $([ "$restrict_oom" = true ] && echo 0 || echo -999)
rotateCertificates: false
serverTLSBootstrap: false
EOF
start kubelet "$KUBE_BIN/kubelet" \
  --config="$RUN/kubelet/config.yaml" --kubeconfig="$RUN/kubelet.kubeconfig" \
  --root-dir="$RUN/kubelet/root" --cert-dir="$RUN/kubelet/pki" \
  --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
wait_for "node registration" 120 kubectl get node "$NODE_NAME"

step "kube-proxy (iptables mode)"
cat > "$RUN/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $RUN/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
nodePortAddresses: [$POD_CIDR]   # NodePorts on the bridge only
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
oomScoreAdj: $([ "$restrict_oom" = true ] && echo 0 || echo -999)
EOF
start kube-proxy "$KUBE_BIN/kube-proxy" --config="$RUN/kube-proxy.yaml"

step "local-path provisioner (StorageClass 'standard', volumes in $RUN/volumes)"
start local-path-provisioner "$(command -v node)" --import tsx "$here/local-path-provisioner.ts" \
  --server "$APISERVER" --ca "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
  --dir "$RUN/volumes" --node "$NODE_NAME"

wait_for "node $NODE_NAME Ready" 180 kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s

step "addons: CoreDNS ($DNS_IP, no upstream forwarding), StorageClass"
sed -e "s|@DNS_IP@|$DNS_IP|g" -e "s|@COREDNS_IMAGE@|$COREDNS_IMAGE|g" -e "s|@CLUSTER_DOMAIN@|$CLUSTER_DOMAIN|g" \
  "$here/addons/coredns.yaml" > "$RUN/manifests/coredns.yaml"
wait_for "default ServiceAccount" 60 kubectl -n kube-system get serviceaccount default
kubectl apply -f "$RUN/manifests/coredns.yaml" -f "$here/addons/storage-class.yaml" >/dev/null
wait_for "CoreDNS" 180 kubectl -n kube-system wait --for=condition=Available deployment/coredns --timeout=5s

printf '\n'
step "cluster ready: Kubernetes $KUBE_VERSION, node $NODE_NAME"
kubectl get nodes -o wide
printf '\nkubeconfig: %s\n  export KUBECONFIG=%s\nlogs: %s\nstop: make cluster-down\n' "$KUBECONFIG_OUT" "$KUBECONFIG_OUT" "$LOGS"
