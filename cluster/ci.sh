#!/usr/bin/env bash
# The Kubernetes part of CI (make e2e-ci): host packages, Docker, the stand-in base image, our
# images, the local cluster, the e2e tests; the cluster is stopped at the end whatever happened.
# Prints the time of each step.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
timed() { # title command...
  local t=$SECONDS title=$1; shift
  printf '\n==== %s\n' "$title"
  "$@"
  printf '==== %s: %ss\n' "$title" "$((SECONDS - t))"
  echo "$title: $((SECONDS - t))s" >> "$timings"
}
timings=$(mktemp)
timed "host packages" cluster/host-deps.sh
timed "docker daemon" cluster/dockerd.sh start
timed "stand-in base image" cluster/base-image.sh
timed "images" make --no-print-directory images
timed "kubernetes binaries" cluster/build-binaries.sh all
trap 'timed "cluster down" cluster/down.sh || true; printf "\n==== timings\n"; cat "$timings"; echo "total: $((SECONDS - t0))s"' EXIT
timed "cluster up" make --no-print-directory cluster-up
timed "e2e tests" make --no-print-directory e2e
