#!/usr/bin/env bash
# Print a directory holding KEDA's real CRDs (ScaledObject & co., and the HTTP add-on's
# HTTPScaledObject), taken from the pinned Go modules through the module proxy. Nothing is
# committed; the module cache keeps them after the first download.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"
# The newest http-add-on version the module proxy serves.
KEDA_HTTP_ADDON_VERSION="${KEDA_HTTP_ADDON_VERSION:-v0.8.0}"

keda="$(module_info github.com/kedacore/keda/v2 "$KEDA_VERSION" Dir)"
addon="$(module_info github.com/kedacore/http-add-on "$KEDA_HTTP_ADDON_VERSION" Dir)"
[ -d "$keda/config/crd/bases" ] || die "KEDA CRDs not found in $keda"
[ -d "$addon/config/crd/bases" ] || die "HTTP add-on CRDs not found in $addon"

out="$CACHE_ROOT/keda-crds/$KEDA_VERSION-$KEDA_HTTP_ADDON_VERSION-2"
mkdir -p "$out"
cp "$keda"/config/crd/bases/keda.sh_*.yaml "$keda"/config/crd/bases/eventing.keda.sh_*.yaml \
	"$addon"/config/crd/bases/http.keda.sh_*.yaml "$out/"
chmod u+w "$out"/*.yaml
echo "$out"
