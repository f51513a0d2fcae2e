// Package dashboards holds the Grafana dashboards (JSON) and their provisioning files; its test
// checks them against the real warehouse schema.
package dashboards
