#!/usr/bin/env bash
# Print a directory holding Argo CD's CRDs (Application, AppProject, ApplicationSet) from the
# pinned module, to validate config/argocd against a real API server. Argo CD itself is not
# run: it cannot be built from the module proxy (its gitops-engine dependency does not resolve).
set -euo pipefail

# The newest release whose go.mod this machine's Go accepts (v3.6 needs Go 1.27).
ARGOCD_VERSION="${ARGOCD_VERSION:-v3.5.0}"
tmp="$(mktemp -d)"
dir="$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || true
rmdir "$tmp"
[ -n "$dir" ] && [ -d "$dir/manifests/crds" ] || { echo "Argo CD CRDs not found in $dir" >&2; exit 1; }
out="${XDG_CACHE_HOME:-$HOME/.cache}/serverless-operator/argocd-crds/$ARGOCD_VERSION"
mkdir -p "$out"
cp "$dir"/manifests/crds/*-crd.yaml "$out/"
chmod u+w "$out"/*.yaml
echo "$out"
