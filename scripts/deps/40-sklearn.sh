#!/usr/bin/env bash
# scikit-learn 1.2.1 (Debian python3-sklearn): the reference that internal/iforest/compat_test.go
# checks the forest against, and scripts/iforest_compare.sh benchmarks against.
set -euo pipefail
if /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y python3-sklearn || { apt-get update && apt-get install -y python3-sklearn; }
