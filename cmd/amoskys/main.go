// Command amoskys is the AMOSKYS binary: Benthos' CLI (lint, test, list, blobl) with every AMOSKYS
// plugin linked in, plus the commands of internal/commands. This file is wiring only.
package main

import (
	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	_ "github.com/amoskys/amoskys/internal/commands"
	_ "github.com/amoskys/amoskys/plugins/all"

	"github.com/amoskys/amoskys/internal/cli"
)

func main() { cli.Main() }
