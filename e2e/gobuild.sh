# shellcheck shell=bash
# Helpers shared by the scripts that build upstream components from the pinned wrapper modules
# under e2e/ (cluster, keda, flux). Source it; it defines functions only.

# go version as a comparable number, e.g. 1.26.8 -> 1026008
ver_num() { awk -F. '{ printf "%d%03d%03d\n", $1, $2, $3 }' <<<"${1#go}"; }

# go_toolchain MODDIR: the GOTOOLCHAIN to build MODDIR with: the caller's (may be empty), or
# GOTOOLCHAIN_FALLBACK (default go1.27.3, fetched through the module proxy) when the local Go is
# older than the module's `go` line.
go_toolchain() {
	local go_line
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
