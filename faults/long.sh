#!/usr/bin/env bash
# faults/long.sh runs the long fault tests of issue 4, which are not part of
# ./test.sh (they take minutes):
#
#   R2  the SMTP server down for 2 minutes during a burst: every mail arrives once
#       after it returns, and the outbox's backoff shows in Caddy's log
#   R6  30 minutes at about half of B1's throughput: Caddy's resident memory and
#       goroutine count stay flat
#
#   ./faults/long.sh               both, with the defaults (about 35 minutes)
#   ./faults/long.sh R2            one of them
#   FAULTS_OUTAGE=30s FAULTS_SOAK=5m FAULTS_SOAK_RATE=500 ./faults/long.sh
#
# Like the quick fault tests (go test ./faults), they run bin/caddy, built by
# ./xcaddy.sh build, against the demo app and a counting SMTP sink on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-all}" in
	R2) run='^TestSMTPOutage$' ;;
	R6) run='^TestSoak$' ;;
	all) run='^(TestSMTPOutage|TestSoak)$' ;;
	*) echo "usage: ./faults/long.sh [R2|R6]" >&2; exit 2 ;;
esac
exec go test -tags longfaults -count=1 -timeout 90m -v -run "$run" ./faults
