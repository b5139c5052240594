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
# shellcheck source=../gobuild.sh
source "$FLUX_SCRIPTS/../gobuild.sh"

BUILD_JOBS="${BUILD_JOBS:-2}"
LDFLAGS="-s -w" # what upstream's Makefile uses; the controllers have no version variable
command -v go >/dev/null || die "go is not installed"

BIN_DIR="$(flux_bin_dir)"

build_controller() {
	local c="$1" v stamp need=0 toolchain moddir
	v="$(flux_controller_version "$c")"
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
	(
		cd "$FLUX_SCRIPTS/$c"
		[ -n "$toolchain" ] && export GOTOOLCHAIN="$toolchain"
		export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
		# (set -e does not apply inside a subshell tested by ||: every step says `|| exit 1`.)
		nice -n 10 go build -p "$BUILD_JOBS" -trimpath -ldflags "$LDFLAGS" -o "$tmp/$c" "$(flux_module "$c")" || exit 1
		# CRDs: config/crd/bases/ of the controller module (the .../api modules do not ship them).
		moddir="$(go list -m -f '{{.Dir}}' "$(flux_module "$c")")" || exit 1
		cp "$moddir"/config/crd/bases/*.yaml "$tmp/crds/" || exit 1
	) || {
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

controllers=("$@")
[ "${#controllers[@]}" -gt 0 ] || read -r -a controllers <<<"$FLUX_CONTROLLERS"
for c in "${controllers[@]}"; do
	case " $FLUX_CONTROLLERS " in *" $c "*) ;; *) die "unknown controller '$c' (known: $FLUX_CONTROLLERS)" ;; esac
	build_controller "$c"
done
echo "$BIN_DIR"
