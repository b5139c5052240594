//go:build tools

// Package tools pins the upstream KEDA operator command built by ../build.sh.
package tools

import (
	_ "github.com/kedacore/keda/v2/cmd/operator"
)
