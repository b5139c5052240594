#!/usr/bin/env bash
# Build Argo CD's application controller and repo server from the pinned wrapper module in
# ./argocd, and put next to them what up.sh installs and runs with: the CRDs, the ConfigMaps and
# Secret of manifests/base/config, and the repo server's git/gpg wrapper scripts.
#
#   e2e/argocd/build.sh      # prints the bin dir
#
# Into $CLUSTER_BIN_ROOT/argocd-<version>/ (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/serverless-operator/bin/argocd-v3.6.1/):
#   argocd-application-controller, argocd-repo-server   one binary, two hard links (upstream
#                                                       picks the component by argv[0])
#   crds/*.yaml            manifests/crds (Application, AppProject, ApplicationSet)
#   config/*.yaml          manifests/base/config (argocd-cm, argocd-secret, ...)
#   hack/*.sh              git-verify-wrapper.sh, gpg-wrapper.sh (the repo server runs them)
# A build from the same go.mod/go.sum/main.go/flags/Go version is kept (.stamp).
#
# Env: CLUSTER_BIN_ROOT, BUILD_JOBS (go build -p, default 2), GOTOOLCHAIN (left alone unless the
# local Go is older than the wrapper's `go` line, then go1.27.3 is fetched from the module proxy).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LDFLAGS="-s -w"
BIN_DIR="$(argocd_bin_dir)"
toolchain="$(go_toolchain "$ARGOCD_MODDIR")"
stamp="$(build_stamp "$ARGOCD_MODDIR" "$toolchain" "ldflags=$LDFLAGS")"

# fill DIR: the build, into a fresh DIR.
fill() {
	local moddir
	go_build "$ARGOCD_MODDIR" "$toolchain" 0 -ldflags "$LDFLAGS" -o "$1/argocd-application-controller" . &&
		ln "$1/argocd-application-controller" "$1/argocd-repo-server" &&
		moddir="$(GOTOOLCHAIN="${toolchain:-$(go env GOTOOLCHAIN)}" wrapped_module_dir "$ARGOCD_MODDIR" "$ARGOCD_MODULE")" &&
		mkdir -p "$1/crds" "$1/config" "$1/hack" &&
		cp "$moddir"/manifests/crds/*-crd.yaml "$1/crds/" &&
		cp "$moddir"/manifests/base/config/argocd-*.yaml "$1/config/" &&
		cp "$moddir"/hack/git-verify-wrapper.sh "$moddir"/hack/gpg-wrapper.sh "$1/hack/" &&
		chmod -R u+w "$1" && # the module cache is read-only
		chmod +x "$1"/hack/*.sh
}

build_dir "Argo CD $(argocd_version)" "$BIN_DIR" "$stamp" fill \
	argocd-application-controller argocd-repo-server crds/application-crd.yaml \
	config/argocd-cm.yaml hack/git-verify-wrapper.sh
echo "$BIN_DIR"
