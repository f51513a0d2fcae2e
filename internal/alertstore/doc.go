// Package alertstore reads and writes alerts: the `alerts` table of the warehouse (every update a
// new row with a higher version, the newest row wins), a bounded in-memory index of the most recent
// alerts that answers the API's hot queries, and an in-process hub that carries live alerts from
// the alert processor to the API's stream.
//
// chDB binds no query parameters on the driver side, so every SQL text here is built only from
// validated typed values: integers, severities and statuses from fixed sets, timestamps formatted
// here, and strings passed through Quote, the tested ClickHouse string-literal escaper.
package alertstore
