#!/usr/bin/env bash
# Print a directory holding KEDA's real CRDs (ScaledObject & co., and the HTTP add-on's
# HTTPScaledObject), taken from the pinned Go modules through the module proxy. Nothing is
# committed; the module cache keeps them after the first download.
set -euo pipefail

KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"
# The newest http-add-on version the module proxy serves.
KEDA_HTTP_ADDON_VERSION="${KEDA_HTTP_ADDON_VERSION:-v0.8.0}"

module_dir() {
	local tmp
	tmp="$(mktemp -d)"
	# Outside any module, so no go.mod is touched; -mod=mod lets `go mod download` resolve.
	(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "$1@$2") |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
	rmdir "$tmp"
}

keda="$(module_dir github.com/kedacore/keda/v2 "$KEDA_VERSION")"
addon="$(module_dir github.com/kedacore/http-add-on "$KEDA_HTTP_ADDON_VERSION")"
[ -d "$keda/config/crd/bases" ] || { echo "KEDA CRDs not found in $keda" >&2; exit 1; }
[ -d "$addon/config/crd/bases" ] || { echo "HTTP add-on CRDs not found in $addon" >&2; exit 1; }

out="${XDG_CACHE_HOME:-$HOME/.cache}/serverless-operator/keda-crds/$KEDA_VERSION-$KEDA_HTTP_ADDON_VERSION-2"
mkdir -p "$out"
cp "$keda"/config/crd/bases/keda.sh_*.yaml "$keda"/config/crd/bases/eventing.keda.sh_*.yaml \
	"$addon"/config/crd/bases/http.keda.sh_*.yaml "$out/"
chmod u+w "$out"/*.yaml
echo "$out"
