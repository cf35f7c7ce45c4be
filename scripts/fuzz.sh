#!/bin/sh
# Runs every native fuzz target in the module for $FUZZTIME each.
#
# Minimizing a new interesting input is bounded by $FUZZMINTIME: the Go
# default (60s) lets one worker spend a whole smoke run shrinking a long
# scenario script, counting no executions, and the run then ends inside the
# minimization with "context deadline exceeded".
#
# A target that fails with "context deadline exceeded" and wrote no failing
# input hit the fuzz coordinator's shutdown race at the end of -fuzztime
# (golang/go#75804), not a finding: it is run once more, and fails the job
# if it fails again. Any failure that wrote an input fails the job at once.
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
FUZZMINTIME=${FUZZMINTIME:-2s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

run() {
	$GO test -run='^$' -fuzz="^$2\$" -fuzztime="$FUZZTIME" -fuzzminimizetime="$FUZZMINTIME" "$1" >"$log" 2>&1
}

shutdown_race() {
	grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written to' "$log"
}

for f in $(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go'); do
	dir=./$(dirname "$f")
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f"); do
		echo "fuzz $dir $target ($FUZZTIME)"
		if run "$dir" "$target"; then
			continue
		fi
		if shutdown_race; then
			tail -n 3 "$log"
			echo "fuzz $dir $target: ended in the coordinator's shutdown race with no failing input; running it again"
			if run "$dir" "$target"; then
				continue
			fi
		fi
		cat "$log"
		status=1
	done
done
exit $status
