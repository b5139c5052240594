# shellcheck shell=bash
# Helpers shared by the scripts that read or build the upstream Go modules pinned by the wrapper
# modules under e2e/ (cluster, keda, flux, trivy). Source it after process.sh.

BUILD_JOBS="${BUILD_JOBS:-2}" # go build -p

# module_version MODDIR MODULE: the version of MODULE that the wrapper module in MODDIR requires,
# read from its go.mod (no network).
module_version() {
	awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1/go.mod"
}

# module_info MODULE VERSION FIELD: a field (Dir, Time, ...) of MODULE@VERSION as
# `go mod download -json` reports it, downloading through the module proxy if need be; nothing
# when it cannot be had.
module_info() {
	local tmp
	tmp="$(mktemp -d)"
	# Outside any module, so no go.mod is touched; -mod=mod lets `go mod download` resolve.
	(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "$1@$2") |
		sed -n "s/^[[:space:]]*\"$3\": \"\(.*\)\",\{0,1\}\$/\1/p" | head -1 || true
	rmdir "$tmp"
}

# wrapped_module_dir MODDIR MODULE: the module cache directory of the version of MODULE that the
# wrapper module in MODDIR selects.
wrapped_module_dir() { (cd "$1" && go list -m -f '{{.Dir}}' "$2"); }

# go version as a comparable number, e.g. 1.26.8 -> 1026008
ver_num() { awk -F. '{ printf "%d%03d%03d\n", $1, $2, $3 }' <<<"${1#go}"; }

# go_toolchain MODDIR: the GOTOOLCHAIN to build MODDIR with: the caller's (may be empty), or
# GOTOOLCHAIN_FALLBACK (default go1.27.3, fetched through the module proxy) when the local Go is
# older than the module's `go` line.
go_toolchain() {
	local go_line
	command -v go >/dev/null || die "go is not installed"
	go_line="$(awk '$1 == "go" { print $2; exit }' "$1/go.mod")"
	if [ "$(ver_num "$(go env GOVERSION)")" -lt "$(ver_num "$go_line")" ]; then
		echo "${GOTOOLCHAIN_FALLBACK:-go1.27.3}"
	else
		echo "${GOTOOLCHAIN:-}"
	fi
}

# build_stamp MODDIR TOOLCHAIN [LINE...]: the cache key of a build, made of everything that
# changes its output: the module's go.mod, go.sum and own Go files, the Go the toolchain
# resolves to, and the caller's LINEs (packages, ldflags, extra files).
build_stamp() {
	local moddir="$1" toolchain="$2" key
	shift 2
	key="$(
		cat "$moddir/go.mod" "$moddir/go.sum" "$moddir"/*.go
		echo "toolchain=$toolchain go=$(GOTOOLCHAIN=${toolchain:-$(go env GOTOOLCHAIN)} go env GOVERSION) goos=$(go env GOOS)/$(go env GOARCH)"
		printf '%s\n' "$@"
	)"
	sha256sum <<<"$key" | cut -c1-16
}

# go_build MODDIR TOOLCHAIN CGO ARG...: `go build ARG...` in the wrapper module MODDIR, as every
# one here is built: under nice, BUILD_JOBS packages at a time, -trimpath, the module graph
# read-only, no VCS stamp, CGO_ENABLED=CGO, and TOOLCHAIN (go_toolchain) when it is set.
go_build() {
	local moddir="$1" toolchain="$2" cgo="$3"
	shift 3
	(
		cd "$moddir" || exit 1
		[ -z "$toolchain" ] || export GOTOOLCHAIN="$toolchain"
		export CGO_ENABLED="$cgo" GOFLAGS="-mod=readonly -buildvcs=false"
		nice -n 10 go build -p "$BUILD_JOBS" -trimpath "$@"
	)
}

# has_files DIR FILE...: every FILE is in DIR.
has_files() {
	local dir="$1" f
	shift
	for f; do [ -e "$dir/$f" ] || return 1; done
}

# build_dir WHAT DIR STAMP FILL FILE...: DIR holding a build stamped STAMP, with every FILE. When
# it does not yet, `FILL TMP` builds into a fresh TMP, which then replaces DIR; a failed build
# leaves DIR as it was.
build_dir() {
	local what="$1" dir="$2" stamp="$3" fill="$4" t0=$SECONDS tmp
	shift 4
	if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ] && has_files "$dir" "$@"; then
		log "$what: up to date in $dir"
		return 0
	fi
	log "$what: building $* (go build -p $BUILD_JOBS) ..."
	tmp="$dir.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	if ! "$fill" "$tmp" || ! has_files "$tmp" "$@"; then
		rm -rf "$tmp"
		die "$what: build failed"
	fi
	echo "$stamp" >"$tmp/.stamp"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	log "$what: built in $((SECONDS - t0))s -> $dir"
}
