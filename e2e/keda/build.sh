#!/usr/bin/env bash
# Build KEDA from the pinned Go modules in ./operator and ./http-add-on (wrapper modules that
# mirror upstream's replace/exclude directives).
#
#   e2e/keda/build.sh [component...]    # components: operator http-add-on (default: operator)
#
# Binaries land in $KEDA_BIN_ROOT/<dir>-<version>/ (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/serverless-operator/bin):
#   operator     -> keda-<version>/keda-operator               (github.com/kedacore/keda/v2/cmd/operator)
#   http-add-on  -> keda-http-add-on-<version>/keda-http-add-on-{operator,interceptor,scaler}
#                                                               (github.com/kedacore/http-add-on/{operator,interceptor,scaler})
# A component already built from the same go.mod/go.sum/flags/Go version is skipped (stamp
# file). The path of each binary is printed on stdout, one per line.
#
# Env: KEDA_BIN_ROOT, BUILD_JOBS (go build -p, default 2), GOTOOLCHAIN (left alone unless the
# local Go is older than a wrapper's `go` line, then go1.27.3 is fetched from the module proxy).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# component -> upstream module, main packages, output dir prefix, binaries, version ldflags
component_module() {
	case "$1" in
	operator) echo github.com/kedacore/keda/v2 ;;
	http-add-on) echo github.com/kedacore/http-add-on ;;
	*) return 1 ;;
	esac
}
component_packages() {
	case "$1" in
	operator) echo github.com/kedacore/keda/v2/cmd/operator ;;
	http-add-on) echo github.com/kedacore/http-add-on/operator github.com/kedacore/http-add-on/interceptor github.com/kedacore/http-add-on/scaler ;;
	esac
}
component_dirname() {
	case "$1" in
	operator) echo keda ;;
	http-add-on) echo keda-http-add-on ;;
	esac
}
# The binaries of a component, in the order of its packages.
component_binaries() {
	case "$1" in
	operator) echo keda-operator ;;
	http-add-on) echo keda-http-add-on-operator keda-http-add-on-interceptor keda-http-add-on-scaler ;;
	esac
}
component_version() {
	local mod
	mod="$(component_module "$1")" || return 1
	module_version "$KEDA_SCRIPTS/$1" "$mod"
}
component_ldflags() {
	local v
	v="$(component_version "$1")"
	case "$1" in
	# Same variables upstream's Makefile sets (VERSION without the leading v, as in releases).
	operator) echo "-s -w -X github.com/kedacore/keda/v2/version.Version=${v#v} -X github.com/kedacore/keda/v2/version.GitCommit=" ;;
	http-add-on) echo "-s -w -X github.com/kedacore/http-add-on/pkg/build.version=${v#v} -X github.com/kedacore/http-add-on/pkg/build.gitCommit=" ;;
	esac
}

build_component() {
	local c="$1" v dir toolchain stamp b
	local -a pkgs bins
	v="$(component_version "$c")"
	[ -n "$v" ] || die "cannot read the $(component_module "$c") version from $KEDA_SCRIPTS/$c/go.mod"
	dir="$KEDA_BIN_ROOT/$(component_dirname "$c")-$v"
	read -r -a pkgs <<<"$(component_packages "$c")"
	read -r -a bins <<<"$(component_binaries "$c")"
	toolchain="$(go_toolchain "$KEDA_SCRIPTS/$c")"
	stamp="$(build_stamp "$KEDA_SCRIPTS/$c" "$toolchain" "pkg=${pkgs[*]}" "ldflags=$(component_ldflags "$c")")"
	build_dir "$c $v" "$dir" "$stamp" fill_component "${bins[@]}"
	for b in "${bins[@]}"; do echo "$dir/$b"; done
}

# fill_component DIR: build_component's build of $c into DIR, one package a binary (c, pkgs,
# bins and toolchain are its).
fill_component() {
	local i
	for i in "${!pkgs[@]}"; do
		go_build "$KEDA_SCRIPTS/$c" "$toolchain" 0 -ldflags "$(component_ldflags "$c")" \
			-o "$1/${bins[$i]}" "${pkgs[$i]}" || return 1
	done
}

components=("$@")
[ "${#components[@]}" -gt 0 ] || components=(operator)
for c in "${components[@]}"; do
	component_module "$c" >/dev/null || die "unknown component '$c' (known: operator http-add-on)"
	build_component "$c"
done
