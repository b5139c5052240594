//go:build tools

// Package tools pins the upstream KEDA HTTP add-on operator command built by ../build.sh.
package tools

import (
	_ "github.com/kedacore/http-add-on/operator"
)
