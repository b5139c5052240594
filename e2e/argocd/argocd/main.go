// Command argocd: Argo CD's application controller and repo server, and nothing else, from the
// pinned github.com/argoproj/argo-cd/v3 module. Like upstream's multi-call cmd/main.go, the
// component is chosen by the name it runs as (argv[0], or ARGOCD_BINARY_NAME); importing only
// these two command packages instead of upstream's cmd/ leaves out the API server, CLI, Dex,
// notifications and ApplicationSet controller, which the end-to-end tests do not run.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/util/log"
)

func init() {
	// As upstream: klog logs through Argo CD's logrus configuration.
	klog.SetLogger(log.NewLogrusLogger(log.NewWithCurrentConfig()))
}

func main() {
	// Upstream's cmd/main.go calls grpc.DisableSRVLookups() here, which panics unless gRPC's
	// grpclb balancer (imported somewhere in the rest of cmd/) has turned SRV lookups on.
	// These two commands do not import it: the lookups are off already.

	name := filepath.Base(os.Args[0])
	if v := os.Getenv("ARGOCD_BINARY_NAME"); v != "" {
		name = v
	}
	var command *cobra.Command
	switch name {
	case common.CommandApplicationController:
		command = appcontroller.NewCommand()
	case common.CommandRepoServer:
		command = reposerver.NewCommand()
	default:
		fmt.Fprintf(os.Stderr, "%s: run as %s or %s (argv[0] or ARGOCD_BINARY_NAME)\n",
			name, common.CommandApplicationController, common.CommandRepoServer)
		os.Exit(2)
	}
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}
