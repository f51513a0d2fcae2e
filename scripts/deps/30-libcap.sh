#!/usr/bin/env bash
# setcap/getcap for the geometric end-to-end tests (capability-raised binary).
set -euo pipefail
if command -v setcap >/dev/null 2>&1 || [ -x /usr/sbin/setcap ] || [ -x /sbin/setcap ]; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y libcap2-bin || { apt-get update && apt-get install -y libcap2-bin; }
