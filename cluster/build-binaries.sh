#!/usr/bin/env bash
# Builds the upstream binaries the local cluster runs, from their Go modules, into
# ~/.cache/leviathan (outside the repository). Each binary is built once per pinned version;
# a second run only checks that the files are there.
#
#   cluster/build-binaries.sh [kube|coredns|helm|all]
#
# k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces every staging module with a
# local path), so a throwaway wrapper module requires it and points each staging module at its
# published v0.x twin.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"
if ! command -v go >/dev/null; then
  [ -x /usr/local/go/bin/go ] && export PATH=$PATH:/usr/local/go/bin || { echo "build-binaries: Go is needed (go.dev/dl, or Debian's golang)" >&2; exit 1; }
fi
export GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0
GO_LDFLAGS='-s -w'

step() { printf '\n== %s\n' "$*"; }
elapsed() { printf '   done in %ss\n' "$(( SECONDS - $1 ))"; }

build_kube() {
  local out=$KUBE_BIN cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
  local missing=0
  for c in "${cmds[@]}" pause; do [ -x "$out/$c" ] || missing=1; done
  if [ $missing = 0 ]; then echo "kubernetes $KUBE_VERSION: cached in $out"; return; fi
  step "building kubernetes $KUBE_VERSION (${cmds[*]}) from k8s.io/kubernetes; cold: 20-40 min on 2 cores"
  local t=$SECONDS dir=$BUILD_ROOT/kube-$KUBE_VERSION
  mkdir -p "$dir" "$out"
  local staging=v0.${KUBE_VERSION#v1.}
  if [ ! -f "$dir/go.sum" ]; then
    (cd "$dir" && rm -f go.mod && go mod init leviathan.local/kube-build >/dev/null 2>&1)
    go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null
    local kdir; kdir=$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION
    {
      echo "module leviathan.local/kube-build"
      echo
      echo "go $(awk '/^go /{print $2}' "$kdir/go.mod")"
      echo
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      echo
      echo "replace ("
      awk '/=> \.\/staging\/src\//{print $1}' "$kdir/go.mod" | while read -r m; do
        echo "	$m => $m $staging"
      done
      echo ")"
    } > "$dir/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport (\n' > "$dir/tools.go"
    for c in "${cmds[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c" >> "$dir/tools.go"; done
    printf ')\n' >> "$dir/tools.go"
    (cd "$dir" && go mod tidy)
  fi
  local pkgs=()
  for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  # The version the binaries report (kubectl and clients refuse a server without one), as the
  # release build stamps it.
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local x='' p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    x+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.gitCommit=$KUBE_VERSION"
  done
  (cd "$dir" && go build -trimpath -ldflags="$GO_LDFLAGS$x" -o "$out/" "${pkgs[@]}")
  # The pause container's binary, from the same release (build/pause/linux/pause.c), static.
  local kdir; kdir=$(go env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION
  gcc -Os -static -DVERSION="$KUBE_VERSION" -o "$out/pause" "$kdir/build/pause/linux/pause.c"
  strip "$out/pause"
  elapsed $t
}

build_module_cmd() { # name version module package output
  local name=$1 version=$2 module=$3 pkg=$4 out=$5
  if [ -x "$out" ]; then echo "$name $version: cached in $out"; return; fi
  step "building $name $version from $module"
  local t=$SECONDS dir=$BUILD_ROOT/$name-$version
  mkdir -p "$dir" "$(dirname "$out")"
  # Same wrapper idea as for Kubernetes: replace directives of the module itself are copied
  # over, so the build matches the upstream release.
  if [ ! -f "$dir/go.sum" ]; then
    go mod download -json "$module@$version" >/dev/null
    local mdir; mdir=$(go env GOMODCACHE)/$(echo "$module" | sed 's/[A-Z]/!\L&/g')@$version
    {
      echo "module leviathan.local/$name-build"
      echo
      echo "go $(awk '/^go /{print $2}' "$mdir/go.mod")"
      echo
      echo "require $module $version"
      awk '/^replace \(/{r=1;next} r&&/^\)/{r=0} r&&/=>/{print "replace " $0} /^replace [^(]/{print}' "$mdir/go.mod"
    } > "$dir/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" > "$dir/tools.go"
    (cd "$dir" && go mod tidy)
  fi
  (cd "$dir" && go build -trimpath -ldflags="$GO_LDFLAGS" -o "$out" "$pkg")
  elapsed $t
}

build_coredns() { build_module_cmd coredns "$COREDNS_VERSION" github.com/coredns/coredns github.com/coredns/coredns "$COREDNS_BIN"; }
build_helm() { build_module_cmd helm "$HELM_VERSION" helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm "$HELM_BIN"; ln -sfn "$(basename "$HELM_BIN")" "$LEVIATHAN_CACHE/bin/helm"; }

case "${1:-all}" in
  kube) build_kube ;;
  coredns) build_coredns ;;
  helm) build_helm ;;
  all) build_helm; build_coredns; build_kube ;;
  *) echo "usage: $0 [kube|coredns|helm|all]" >&2; exit 2 ;;
esac
