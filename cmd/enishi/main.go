// Command enishi is a CRM for Japanese EC and D2C shops. See README.md.
package main

import (
	"os"

	"github.com/enishi-crm/enishi/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], cli.StdIO()))
}
