#!/usr/bin/env bash
# Imports images from the local Docker into the running local cluster's containerd (what
# `kind load docker-image` does for kind), so rebuilt images reach the cluster without a new
# bring-up. Pods already running keep their old image until they restart.
#
#   cluster/load-images.sh IMAGE...
set -euo pipefail
LEVIATHAN_CACHE=${LEVIATHAN_CACHE:-$HOME/.cache/leviathan}
source "$(dirname "$0")/lib.sh"
[[ -S $CONTAINERD_SOCK ]] || fail "the local cluster is not running (make cluster-up)"
for image in "$@"; do
  docker image inspect "$image" >/dev/null 2>&1 || fail "image $image is not in the local Docker (make images)"
  docker save "$image" | ctr_k8s images import - >/dev/null
  echo "imported $image"
done
