# Pinned versions of everything the local cluster builds (sourced by the scripts in cluster/).
# Kubernetes stays on 1.32: kubelet 1.35 and later refuse to start on cgroup v1 hosts, and
# the machines this project runs on are cgroup v1 (hybrid).
KUBE_VERSION=v1.32.5           # k8s.io/kubernetes; staging modules at v0.32.5 (the newest 1.32 patch
                               # for which the Go module proxy serves every staging module)
COREDNS_VERSION=v1.14.7        # github.com/coredns/coredns
HELM_VERSION=v3.22.0           # helm.sh/helm/v3

LEVIATHAN_CACHE=${LEVIATHAN_CACHE:-$HOME/.cache/leviathan}
KUBE_BIN=$LEVIATHAN_CACHE/kube/$KUBE_VERSION/bin     # kube-apiserver ... kubectl, pause
COREDNS_BIN=$LEVIATHAN_CACHE/coredns/$COREDNS_VERSION/coredns
HELM_BIN=$LEVIATHAN_CACHE/bin/helm-$HELM_VERSION
BUILD_ROOT=$LEVIATHAN_CACHE/build
