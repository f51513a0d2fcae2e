// Package all links every AMOSKYS Benthos plugin (inputs, processors, outputs) into a binary.
// Each line is a blank import; a new plugin package adds one line here and touches nothing else.
package all

import (
	_ "github.com/amoskys/amoskys/processors/normalise"
)
import _ "github.com/amoskys/amoskys/processors/fuse"
import _ "github.com/amoskys/amoskys/processors/geometric"
import _ "github.com/amoskys/amoskys/processors/window"
import _ "github.com/amoskys/amoskys/processors/alert"
import _ "github.com/amoskys/amoskys/plugins/collect/process"
import _ "github.com/amoskys/amoskys/processors/temporal"
import _ "github.com/amoskys/amoskys/plugins/collect/connections"
import _ "github.com/amoskys/amoskys/plugins/collect/host"
import _ "github.com/amoskys/amoskys/plugins/clickhouse"
import _ "github.com/amoskys/amoskys/plugins/collect/snmp"
import _ "github.com/amoskys/amoskys/plugins/collect/discovery"
import _ "github.com/amoskys/amoskys/processors/iforest"
import _ "github.com/amoskys/amoskys/plugins/bus"
