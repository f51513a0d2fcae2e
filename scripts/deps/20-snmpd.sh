#!/usr/bin/env bash
# Installs Debian net-snmp's agent (snmpd) and tools (snmpwalk) for the SNMP collector's tests
# (internal/snmptest starts a private snmpd on 127.0.0.1). Idempotent.
set -euo pipefail
if command -v snmpd >/dev/null 2>&1 && command -v snmpwalk >/dev/null 2>&1; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends snmpd snmp; then
	apt-get update
	apt-get install -y --no-install-recommends snmpd snmp
fi
# The package starts a system-wide snmpd on udp/161; the tests run their own, so stop it if it runs.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now snmpd >/dev/null 2>&1 || true; fi
command -v snmpd >/dev/null
