#!/usr/bin/env bash
# Our detect stages against the framework's overhead, counted instead of timed: CPU time on a
# shared VM moves by up to 40% between runs of the same code, callgrind's counts do not.
#
# Runs internal/replay's BenchmarkReplayPluginNoop (six public-API pass-through stages + input,
# loop, output: the framework) and BenchmarkReplayDetect (pipelines/detect.yaml) under callgrind
# at N and 2N events (GOMAXPROCS=1, so no idle scheduler spins in the counts). The difference
# between the two sizes is the cost of N more events without start-up; the synthetic events'
# own generation (replay.Synthetic, inclusive) is taken out of it. Prints, per N events:
# instructions, L1 and last-level misses, and valgrind's cycle estimate Ir + 10 L1m + 100 LLm.
#
#   [KEEP=DIR] scripts/replay_callgrind.sh [N]      (default 100000; about 7 minutes on two cores)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
if ! command -v valgrind >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y valgrind >/dev/null || { apt-get update >/dev/null && apt-get install -y valgrind >/dev/null; }
fi
# KEEP=DIR keeps callgrind's files there (for callgrind_annotate); else a temporary directory.
if [ -n "${KEEP:-}" ]; then
	dir=$KEEP
	mkdir -p "$dir"
else
	dir=$(mktemp -d)
	trap 'rm -rf "$dir"' EXIT
fi
go test -c -o "$dir/replay.test" ./internal/replay
for b in PluginNoop Detect; do
	for k in 1 2; do
		(cd internal/replay && GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 GOGC=400 AMOSKYS_BENCH_EVENTS=$((k * n)) \
			valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$dir/$b-$k.cg" \
			"$dir/replay.test" -test.run '^$' -test.bench "Replay$b\$" -test.benchtime 1x >"$dir/$b-$k.log" 2>&1) &
	done
	wait
done
# counts FILE: Ir I1mr D1mr D1mw ILmr DLmr DLmw of the whole run, then of replay.Synthetic (inclusive).
counts() {
	grep -h 'Collected :' "$1.log" | awk '{print $4, $7, $8, $9, $10, $11, $12}'
	callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$1.cg" 2>/dev/null |
		grep -m1 'internal/replay.Synthetic ' | tr -d ',' | sed 's/([^)]*)//g' |
		awk '{print $1, $4, $5, $6, $7, $8, $9}'
}
for b in PluginNoop Detect; do
	for k in 1 2; do echo "$b $k $(counts "$dir/$b-$k" | tr '\n' ' ')"; done
done | awk -v n="$n" '
	{ for (i = 0; i < 14; i++) v[$1, $2, i] = $(i + 3) }
	function marg(b, i) { return (v[b, 2, i] - v[b, 1, i]) - (v[b, 2, i + 7] - v[b, 1, i + 7]) }
	function row(name, f, ir, l1, ll) { printf "| %s | %.0f | %.2f | %.2f | %.0f |\n", name, ir / 1e6, l1 / 1e6, ll / 1e6, (ir + 10 * l1 + 100 * ll) / 1e6 }
	END {
		for (j = 0; j < 2; j++) {
			b = j ? "Detect" : "PluginNoop"
			ir[b] = marg(b, 0); l1[b] = marg(b, 1) + marg(b, 2) + marg(b, 3); ll[b] = marg(b, 4) + marg(b, 5) + marg(b, 6)
		}
		printf "%d more events (%d against %d), synthetic event generation taken out; millions:\n\n", n, 2 * n, n
		print "| run | instructions | L1 misses | LL misses | cycle estimate |"
		print "|---|---|---|---|---|"
		row("framework: 6 x plugin_noop + input, loop, output", 0, ir["PluginNoop"], l1["PluginNoop"], ll["PluginNoop"])
		row("pipelines/detect.yaml", 0, ir["Detect"], l1["Detect"], ll["Detect"])
		o1 = ir["Detect"] - ir["PluginNoop"]; o2 = l1["Detect"] - l1["PluginNoop"]; o3 = ll["Detect"] - ll["PluginNoop"]
		row("ours (detect minus framework)", 0, o1, o2, o3)
		ce = (ir["PluginNoop"] + 10 * l1["PluginNoop"] + 100 * ll["PluginNoop"])
		printf "\nOurs / framework: instructions %.2f, L1 misses %.2f, LL misses %.2f, cycle estimate %.2f.\n", o1 / ir["PluginNoop"], o2 / l1["PluginNoop"], o3 / ll["PluginNoop"], (o1 + 10 * o2 + 100 * o3) / ce
	}'
