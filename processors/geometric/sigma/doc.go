// Package sigma is a Sigma rule engine in plain Go: it parses Sigma YAML rules (title, id,
// logsource, detection with named selections, field modifiers, keyword searches, conditions),
// compiles them to matchers over lowercased, lazily computed field values, and evaluates them
// against records that a caller fills from its own event type through a Source.
//
// Semantics follow the Sigma specification: string matches are case-insensitive unless the
// `cased` or `re` modifier says otherwise; `*` and `?` are wildcards (escape with `\`); a list of
// values is OR unless `|all`; a map is AND over its fields; a list of maps is OR; a list of strings
// is a keyword search; conditions combine selections with and/or/not, parentheses,
// `1 of pattern*`, `all of pattern*`, `1 of them`, `all of them`.
package sigma
