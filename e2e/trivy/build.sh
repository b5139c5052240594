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
# shellcheck source=../process.sh
source "$TRIVY_SCRIPTS/../process.sh"
# shellcheck source=../gobuild.sh
source "$TRIVY_SCRIPTS/../gobuild.sh"
TRIVY_BIN_ROOT="${TRIVY_BIN_ROOT:-$DEFAULT_BIN_ROOT}"

moddir="$TRIVY_SCRIPTS/module"
version="$(module_version "$moddir" github.com/aquasecurity/trivy)"
[ -n "$version" ] || die "cannot read the Trivy version from $moddir/go.mod"
# What upstream's goreleaser.yml sets: static, stripped, the version, and the JSON v2 experiment
# its code needs.
ldflags="-s -w -X github.com/aquasecurity/trivy/pkg/version/app.ver=${version#v}"
experiment=jsonv2
dir="$TRIVY_BIN_ROOT/trivy-$version"
toolchain="$(go_toolchain "$moddir")"
stamp="$(build_stamp "$moddir" "$toolchain" "ldflags=$ldflags" "GOEXPERIMENT=$experiment")"

fill() {
	GOEXPERIMENT="$experiment" go_build "$moddir" "$toolchain" 0 -ldflags "$ldflags" \
		-o "$1/trivy" github.com/aquasecurity/trivy/cmd/trivy
}
build_dir "trivy $version" "$dir" "$stamp" fill trivy
echo "$dir/trivy"
