#!/bin/sh
# Runs every native fuzz target in the module for $FUZZTIME each.
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
status=0
for f in $(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go'); do
	dir=./$(dirname "$f")
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f"); do
		echo "fuzz $dir $target ($FUZZTIME)"
		if ! $GO test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$dir" >/tmp/fuzz.$$.log 2>&1; then
			cat /tmp/fuzz.$$.log
			status=1
		fi
	done
done
rm -f /tmp/fuzz.$$.log
exit $status
