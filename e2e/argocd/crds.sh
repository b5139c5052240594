#!/usr/bin/env bash
# Print a directory holding Argo CD's CRDs (Application, AppProject, ApplicationSet) of the
# version the wrapper module ./argocd pins, to validate config/argocd against a real API server.
# Only the module is downloaded (through the module proxy); nothing is built (build.sh does that,
# for up.sh).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

version="$(argocd_version)"
# v3.6 needs Go 1.27: `go mod download` refuses the module under an older Go.
toolchain="$(go_toolchain "$ARGOCD_MODDIR")"
# shellcheck disable=SC2031 # go_build sets its own in a subshell; this one is for module_info
[ -z "$toolchain" ] || export GOTOOLCHAIN="$toolchain"
dir="$(module_info "$ARGOCD_MODULE" "$version" Dir)"
[ -d "$dir/manifests/crds" ] || die "Argo CD CRDs not found in ${dir:-the module cache} ($ARGOCD_MODULE@$version)"
out="$CACHE_ROOT/argocd-crds/$version"
mkdir -p "$out"
cp "$dir"/manifests/crds/*-crd.yaml "$out/"
chmod u+w "$out"/*.yaml
echo "$out"
