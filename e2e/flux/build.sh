#!/usr/bin/env bash
# Build Flux's source-controller and kustomize-controller from the pinned wrapper modules in
# ./source-controller and ./kustomize-controller, and copy Flux's CRDs next to them.
#
#   e2e/flux/build.sh [source-controller|kustomize-controller ...]   # default: both
#
# Binaries land in $CLUSTER_BIN_ROOT/flux-<version>/ (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/serverless-operator/bin), CRDs in its crds/ subdirectory. A
# controller already built from the same go.mod/go.sum/flags/Go version is skipped. The bin dir
# is the only thing printed on stdout.
#
# Env: CLUSTER_BIN_ROOT, BUILD_JOBS (go build -p, default 2), GOTOOLCHAIN (left alone unless the
# local Go is older than a wrapper's `go` line, then go1.27.3 is fetched from the module proxy).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LDFLAGS="-s -w" # what upstream's Makefile uses; the controllers have no version variable

BIN_DIR="$(flux_bin_dir)"

build_controller() {
	local c="$1" v stamp need=0 toolchain
	v="$(component_version "$c")"
	[ -n "$v" ] || die "cannot read the $c version from $FLUX_SCRIPTS/$c/go.mod"

	toolchain="$(go_toolchain "$FLUX_SCRIPTS/$c")"
	stamp="$(build_stamp "$FLUX_SCRIPTS/$c" "$toolchain" "ldflags=$LDFLAGS")"
	[ "$(cat "$BIN_DIR/.stamp-$c" 2>/dev/null)" = "$stamp" ] || need=1
	[ -x "$BIN_DIR/$c" ] || need=1
	[ -f "$BIN_DIR/crds/.stamp-$c" ] && [ "$(cat "$BIN_DIR/crds/.stamp-$c")" = "$stamp" ] || need=1
	if [ "$need" = 0 ]; then
		log "$c $v: up to date in $BIN_DIR"
		return 0
	fi

	log "$c $v: building (go build -p $BUILD_JOBS) ..."
	local t0=$SECONDS tmp="$BIN_DIR/.tmp.$c.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp/crds"
	fill_controller "$tmp" || {
		rm -rf "$tmp"
		die "$c build failed"
	}
	chmod u+w "$tmp"/crds/*.yaml # the module cache is read-only
	mkdir -p "$BIN_DIR/crds"
	mv -f "$tmp"/crds/*.yaml "$BIN_DIR/crds/"
	mv -f "$tmp/$c" "$BIN_DIR/$c"
	rm -rf "$tmp"
	echo "$stamp" >"$BIN_DIR/.stamp-$c"
	echo "$stamp" >"$BIN_DIR/crds/.stamp-$c"
	log "$c $v: built in $((SECONDS - t0))s -> $BIN_DIR/$c"
}

# fill_controller DIR: build_controller's build of $c into DIR: the binary, and the CRDs from
# config/crd/bases/ of the controller module (the .../api modules do not ship them).
fill_controller() {
	local moddir
	go_build "$FLUX_SCRIPTS/$c" "$toolchain" 0 -ldflags "$LDFLAGS" -o "$1/$c" "$(component_module "$c")" &&
		moddir="$(wrapped_module_dir "$FLUX_SCRIPTS/$c" "$(component_module "$c")")" &&
		cp "$moddir"/config/crd/bases/*.yaml "$1/crds/"
}

controllers=("$@")
[ "${#controllers[@]}" -gt 0 ] || read -r -a controllers <<<"$FLUX_CONTROLLERS"
for c in "${controllers[@]}"; do
	# shellcheck disable=SC2086 # a list of names
	one_of "$c" $FLUX_CONTROLLERS || die "unknown controller '$c' (known: $FLUX_CONTROLLERS)"
	build_controller "$c"
done
echo "$BIN_DIR"
