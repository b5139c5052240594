//go:build tools

// Package tools pins the upstream KEDA HTTP add-on operator, interceptor and scaler commands built by ../build.sh.
package tools

import (
	_ "github.com/kedacore/http-add-on/interceptor"
	_ "github.com/kedacore/http-add-on/operator"
	_ "github.com/kedacore/http-add-on/scaler"
)
