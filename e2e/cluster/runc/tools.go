//go:build tools

// Package tools pins the upstream commands built by ../build.sh.
package tools

import (
	_ "github.com/opencontainers/runc"
)
