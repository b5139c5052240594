//go:build tools

// Package tools pins the upstream Trivy command built by ../build.sh.
package tools

import (
	_ "github.com/aquasecurity/trivy/cmd/trivy"
)
