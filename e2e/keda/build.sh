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

KEDA_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KEDA_BIN_ROOT="${KEDA_BIN_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/serverless-operator/bin}"
BUILD_JOBS="${BUILD_JOBS:-2}"
# shellcheck source=../process.sh
source "$KEDA_SCRIPTS/../process.sh"
# shellcheck source=../gobuild.sh
source "$KEDA_SCRIPTS/../gobuild.sh"
command -v go >/dev/null || die "go is not installed"

# component -> upstream module, main package, output dir prefix, binary name, version package
comp_module() {
	case "$1" in
	operator) echo github.com/kedacore/keda/v2 ;;
	http-add-on) echo github.com/kedacore/http-add-on ;;
	*) return 1 ;;
	esac
}
comp_package() {
	case "$1" in
	operator) echo github.com/kedacore/keda/v2/cmd/operator ;;
	http-add-on) echo github.com/kedacore/http-add-on/operator github.com/kedacore/http-add-on/interceptor github.com/kedacore/http-add-on/scaler ;;
	esac
}
comp_dirname() {
	case "$1" in
	operator) echo keda ;;
	http-add-on) echo keda-http-add-on ;;
	esac
}
# The binaries of a component, in the order of its packages.
comp_binaries() {
	case "$1" in
	operator) echo keda-operator ;;
	http-add-on) echo keda-http-add-on-operator keda-http-add-on-interceptor keda-http-add-on-scaler ;;
	esac
}
comp_version() {
	local mod
	mod="$(comp_module "$1")" || return 1
	awk -v m="$mod" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' \
		"$KEDA_SCRIPTS/$1/go.mod"
}
comp_ldflags() {
	local v
	v="$(comp_version "$1")"
	case "$1" in
	# Same variables upstream's Makefile sets (VERSION without the leading v, as in releases).
	operator) echo "-s -w -X github.com/kedacore/keda/v2/version.Version=${v#v} -X github.com/kedacore/keda/v2/version.GitCommit=" ;;
	http-add-on) echo "-s -w -X github.com/kedacore/http-add-on/pkg/build.version=${v#v} -X github.com/kedacore/http-add-on/pkg/build.gitCommit=" ;;
	esac
}

build_component() {
	local c="$1" v dir toolchain stamp b
	local -a pkgs bins
	v="$(comp_version "$c")"
	[ -n "$v" ] || die "cannot read the $(comp_module "$c") version from $KEDA_SCRIPTS/$c/go.mod"
	dir="$KEDA_BIN_ROOT/$(comp_dirname "$c")-$v"
	read -r -a pkgs <<<"$(comp_package "$c")"
	read -r -a bins <<<"$(comp_binaries "$c")"

	toolchain="$(go_toolchain "$KEDA_SCRIPTS/$c")"
	stamp="$(build_stamp "$KEDA_SCRIPTS/$c" "$toolchain" "pkg=${pkgs[*]}" "ldflags=$(comp_ldflags "$c")")"

	if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ] && all_executable "$dir" "${bins[@]}"; then
		log "$c $v: up to date in $dir"
		for b in "${bins[@]}"; do echo "$dir/$b"; done
		return 0
	fi

	log "$c $v: building ${bins[*]} (go build -p $BUILD_JOBS) ..."
	local t0=$SECONDS tmp="$dir.tmp.$$" i
	rm -rf "$tmp"
	mkdir -p "$tmp"
	(
		cd "$KEDA_SCRIPTS/$c"
		[ -n "$toolchain" ] && export GOTOOLCHAIN="$toolchain"
		export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
		for i in "${!pkgs[@]}"; do
			nice -n 10 go build -p "$BUILD_JOBS" -trimpath -ldflags "$(comp_ldflags "$c")" \
				-o "$tmp/${bins[$i]}" "${pkgs[$i]}" || exit 1
		done
	) || {
		rm -rf "$tmp"
		die "$c build failed"
	}
	all_executable "$tmp" "${bins[@]}" || die "$c: a binary is missing after the build"
	echo "$stamp" >"$tmp/.stamp"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	log "$c $v: built in $((SECONDS - t0))s -> $dir"
	for b in "${bins[@]}"; do echo "$dir/$b"; done
}
all_executable() { # DIR BINARY...
	local d="$1" b
	shift
	for b in "$@"; do [ -x "$d/$b" ] || return 1; done
}

components=("$@")
[ "${#components[@]}" -gt 0 ] || components=(operator)
for c in "${components[@]}"; do
	comp_module "$c" >/dev/null || die "unknown component '$c' (known: operator http-add-on)"
	build_component "$c"
done
