// Ours, not smallstep's: a minimal step-ca entry point for bench/stepca.ts.
// Debian bookworm ships github.com/smallstep/certificates 0.19.0 as a library
// only (golang-github-smallstep-certificates-dev, no cmd/step-ca), so this
// wraps its commands.AppCommand (upstream's "start" action, `step-ca
// ca.json`) with the soft KMS and soft CAS backends. bench/_stepca-build.ts
// builds it at set-up time in GOPATH mode against the Debian package's
// sources; neither those sources nor the binary are ever committed.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/commands"
	"github.com/urfave/cli"
	"go.step.sm/cli-utils/step"

	_ "github.com/smallstep/certificates/cas/softcas"
	_ "github.com/smallstep/certificates/kms/softkms"
)

const Version = "0.19.0-debian"

func main() {
	step.Set("Smallstep CA", Version, "debian-bookworm")
	authority.GlobalVersion.Version = Version
	app := cli.NewApp()
	app.Name = "step-ca"
	app.HelpName = "step-ca"
	app.Version = fmt.Sprintf("Smallstep CA/%s (%s/%s)", Version, runtime.GOOS, runtime.GOARCH)
	app.Usage = "an online certificate authority for secure automated certificate management"
	app.Flags = commands.AppCommand.Flags
	app.Action = commands.AppCommand.Action
	app.Writer = os.Stdout
	app.ErrWriter = os.Stderr
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
