#!/usr/bin/env bash
# Build Trivy from the pinned Go module in ./module (a wrapper module; upstream has no replace or
# exclude directives, and the versions it selects equal upstream's go.mod).
#
#   e2e/trivy/build.sh      # prints the path of the trivy binary
#
# The binary lands in $TRIVY_BIN_ROOT/trivy-<version>/trivy (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/serverless-operator/bin); a build from the same
# go.mod/go.sum/flags/Go version is skipped (stamp file).
#
# Env: TRIVY_BIN_ROOT, BUILD_JOBS (go build -p, default 2).
set -euo pipefail

TRIVY_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TRIVY_BIN_ROOT="${TRIVY_BIN_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/serverless-operator/bin}"
BUILD_JOBS="${BUILD_JOBS:-2}"
# shellcheck source=../process.sh
source "$TRIVY_SCRIPTS/../process.sh"
# shellcheck source=../gobuild.sh
source "$TRIVY_SCRIPTS/../gobuild.sh"
command -v go >/dev/null || die "go is not installed"

moddir="$TRIVY_SCRIPTS/module"
version="$(awk '$1 == "require" && $2 == "github.com/aquasecurity/trivy" { print $3; exit }' "$moddir/go.mod")"
[ -n "$version" ] || die "cannot read the Trivy version from $moddir/go.mod"
# What upstream's goreleaser.yml sets: static, stripped, the version, and the JSON v2 experiment
# its code needs.
ldflags="-s -w -X github.com/aquasecurity/trivy/pkg/version/app.ver=${version#v}"
experiment=jsonv2
dir="$TRIVY_BIN_ROOT/trivy-$version"
toolchain="$(go_toolchain "$moddir")"
stamp="$(build_stamp "$moddir" "$toolchain" "ldflags=$ldflags" "GOEXPERIMENT=$experiment")"

if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ] && [ -x "$dir/trivy" ]; then
	log "trivy $version: up to date in $dir"
	echo "$dir/trivy"
	exit 0
fi

log "trivy $version: building (go build -p $BUILD_JOBS) ..."
t0=$SECONDS
tmp="$dir.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
(
	cd "$moddir"
	[ -n "$toolchain" ] && export GOTOOLCHAIN="$toolchain"
	export CGO_ENABLED=0 GOEXPERIMENT="$experiment" GOFLAGS="-mod=readonly -buildvcs=false"
	nice -n 10 go build -p "$BUILD_JOBS" -trimpath -ldflags "$ldflags" \
		-o "$tmp/trivy" github.com/aquasecurity/trivy/cmd/trivy
) || {
	rm -rf "$tmp"
	die "trivy build failed"
}
echo "$stamp" >"$tmp/.stamp"
rm -rf "$dir"
mv "$tmp" "$dir"
log "trivy $version: built in $((SECONDS - t0))s -> $dir"
echo "$dir/trivy"
