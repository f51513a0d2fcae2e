#!/usr/bin/env bash
# make bench: every benchmark behind docs/BENCHMARKS.md, each beside its baseline in the same run.
# Long; run it on an otherwise idle machine. Output goes to stdout and bench-results/<date>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/amoskys
shared=../shared/data
mkdir -p bench-results
log="bench-results/$(date -u +%Y%m%dT%H%M%SZ).log"
for f in scripts/deps/*.sh; do "$f"; done
run() { echo; echo "### $*"; "$@"; }
{
	echo "# $(date -u +%FT%TZ) $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
	run $bin bench warehouse
	run $bin bench collect
	run go test ./processors/geometric -run '^$' -bench . -benchtime 3s -count 3
	run go test ./processors/window -run '^$' -bench . -count 3
	if [ -d "$shared/nab" ]; then
		run $bin bench nab --data "$shared/nab/data" --out "$(mktemp -d)" \
			--labels "$shared/nab/labels/combined_windows.json" \
			--profiles "$shared/nab/config/profiles.json" \
			--reference "numenta=$shared/nab/reference/numenta"
	else
		echo "bench nab: $shared/nab absent: skipped"
	fi
	run go test ./processors/temporal -run '^$' -bench BenchmarkDetector -benchtime 3000000x -count 3
	run scripts/iforest_compare.sh
	run go test ./internal/iforest -run '^$' -bench . -count 3
	run go test ./processors/alert ./processors/fuse -run '^$' -bench . -count 1
	run $bin bench api
	run $bin bench bus
	run $bin bench replay --events 1000000 --rounds 5 --stage-events 300000
	run scripts/replay_callgrind.sh 100000
	# The fault tests at 1M events (make test runs them at 2 x 25k): kill -9 of the detector and
	# the warehouse held away, each with every event exactly once after dedup.
	AMOSKYS_REQUIRE_DEPS=1 run go test ./tests/transport/ -v -count 1 -timeout 40m -transport.events=500000
} 2>&1 | tee "$log"
