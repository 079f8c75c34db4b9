#!/usr/bin/env bash
# Runs a command against a control plane of its own (etcd + kube-apiserver, e2e/control-plane),
# with the CRD applied: KUBECONFIG, KUBECTL, CP_DIR and CP_LIB set for it. Always stops it.
#   tests/kube/with_control_plane.sh build-kube/tests/kube/kube_api_tests
set -euo pipefail
export CP_DIR=${CP_DIR:-$(mktemp -d /tmp/podlens-cp.XXXXXX)}
export CP_LIB
CP_LIB=$(cd "$(dirname "$0")/../../e2e/control-plane" && pwd)/lib.sh
# shellcheck source=../../e2e/control-plane/lib.sh
source "$CP_LIB"
trap 'cp_down; rm -rf "$CP_DIR"' EXIT
cp_up
export KUBECONFIG=$CP_KUBECONFIG
export KUBECTL
KUBECTL=$(cp_bin_dir)/kubectl
cp_kubectl apply -f "$CP_ROOT/crds/telemetrypolicies.yaml" >/dev/null
cp_kubectl wait --for condition=established --timeout 30s crd/telemetrypolicies.podlens.io \
  >/dev/null
"$@"
