//go:build tools

// Package tools pins the upstream command built by ../build.sh.
package tools

import (
	_ "github.com/fluxcd/source-controller"
)
