#!/usr/bin/env bash
# Print a directory holding Argo CD's CRDs (Application, AppProject, ApplicationSet) from the
# pinned module, to validate config/argocd against a real API server. Argo CD itself is not
# run: it cannot be built from the module proxy (its gitops-engine dependency does not resolve).
set -euo pipefail
# shellcheck source=../process.sh
source "$(dirname "${BASH_SOURCE[0]}")/../process.sh"
# shellcheck source=../gobuild.sh
source "$E2E_DIR/gobuild.sh"

# The newest release whose go.mod this machine's Go accepts (v3.6 needs Go 1.27).
ARGOCD_VERSION="${ARGOCD_VERSION:-v3.5.0}"
dir="$(module_info github.com/argoproj/argo-cd/v3 "$ARGOCD_VERSION" Dir)"
[ -d "$dir/manifests/crds" ] || die "Argo CD CRDs not found in $dir"
out="$CACHE_ROOT/argocd-crds/$ARGOCD_VERSION"
mkdir -p "$out"
cp "$dir"/manifests/crds/*-crd.yaml "$out/"
chmod u+w "$out"/*.yaml
echo "$out"
