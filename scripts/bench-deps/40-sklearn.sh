#!/usr/bin/env bash
# scikit-learn 1.2.1 (Debian python3-sklearn), the reference for scripts/iforest_compare.sh.
set -euo pipefail
if /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y python3-sklearn || { apt-get update && apt-get install -y python3-sklearn; }
