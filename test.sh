#!/usr/bin/env bash
# test.sh runs every test of the project, exactly as CI does (.ci/run calls it):
# it installs what is missing (Debian's Chromium for the browser tests), builds
# Caddy with the plugin (./xcaddy.sh build: the demo test runs that binary), checks
# formatting, go vet and staticcheck, then runs go test. A skipped test fails the
# run: a test that did not run proves nothing.
set -euo pipefail
cd "$(dirname "$0")"

readonly STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2

die() { echo "test.sh: $*" >&2; exit 1; }

ensure_chromium() {
	command -v chromium >/dev/null 2>&1 && return
	echo "test.sh: installing Debian's chromium for the browser tests" >&2
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
	command -v chromium >/dev/null 2>&1 || die "chromium is still missing"
}

# Debian's PostgreSQL for storage/postgres's tests, which start servers of their
# own (internal/testenv's StartPostgres). postgresql-common is first told to
# create no cluster, so that installing starts no server on port 5432.
ensure_postgres() {
	command -v initdb >/dev/null 2>&1 && return
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return
	echo "test.sh: installing Debian's postgresql for storage/postgres's tests" >&2
	local sudo="" conf=/etc/postgresql-common/createcluster.conf
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo mkdir -p /etc/postgresql-common
	if [ ! -e "$conf" ]; then
		echo "create_main_cluster = false" | $sudo tee "$conf" >/dev/null
	elif ! grep -qE '^\s*create_main_cluster' "$conf"; then
		echo "create_main_cluster = false" | $sudo tee -a "$conf" >/dev/null
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || die "PostgreSQL's initdb is still missing"
}

# Auth0's own clients from npm, each directory pinned by its package-lock.json:
# the auth0 SDK that e2e's TestAuth0NodeClient drives, and auth0-js, Lock and
# esbuild for the TestBrowserAuth0JS* and TestBrowserLock* browser tests.
ensure_npm_clients() {
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
		die "Node.js 20+ and npm are missing (e2e runs Auth0's npm clients)"
	local dir
	for dir in e2e/testdata/auth0client e2e/testdata/browserclients; do
		[ -f "$dir/node_modules/.package-lock.json" ] && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] && continue
		echo "test.sh: installing $dir's npm packages (npm ci)" >&2
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $dir"
	done
}

ensure_chromium
ensure_postgres
ensure_npm_clients
command -v go >/dev/null 2>&1 || die "Go is not installed (want Go 1.26)"
./xcaddy.sh build

# Caddy writes its autosave and certificates under the XDG directories: keep the
# tests' out of the user's.
work=$(mktemp -d)
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data"

# The disk-full test fills a real filesystem: a 200 MB tmpfs (needs root or sudo).
small="$work/smallfs"
mkdir -p "$small"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
$sudo mount -t tmpfs -o size=200m tmpfs "$small" ||
	die "cannot mount a 200 MB tmpfs for storage/badger's TestDiskFull (run as root or with sudo)"
trap '$sudo umount "$small" 2>/dev/null || true' EXIT
export BADGERSTORE_SMALL_FS="$small"

unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || die "gofmt would change: $unformatted"
go vet ./...
# The long fault tests (faults/long.sh) are behind a build tag: keep them compiling.
go vet -tags longfaults ./faults
go run "$STATICCHECK" ./...

log="$work/go-test.log"
echo "test.sh: go test (full log: $log)" >&2
status=0
# The packages below Caddy run with the race detector; e2e (which compiles all of
# Caddy, and runs it with Chromium and the built binary) runs without it.
go test -count=1 -race -timeout 15m -v $(go list ./... | grep -v /e2e$) >"$log" 2>&1 || status=$?
go test -count=1 -timeout 15m -v ./e2e >>"$log" 2>&1 || status=$?
# Every fuzz target runs 3,000 inputs past its seeds (which ran as tests
# above). A crash it finds is written under the package's testdata/fuzz and fails
# here. The budget is a count, not a duration: with -fuzztime=<duration>, Go 1.26's
# fuzz coordinator can report "context deadline exceeded" at the deadline when a
# loaded machine delays a worker (golang/go#75804, fixed in Go 1.27), failing a
# target that found nothing.
for target in $(grep -rlE '^func Fuzz' --include='*_test.go' . | xargs grep -hoE '^func Fuzz[A-Za-z0-9]*' |
	sort -u | sed 's/^func //'); do
	pkg=$(grep -rlE "^func $target\(" --include='*_test.go' . | head -1 | xargs dirname)
	echo "fuzz $pkg $target" >>"$log"
	go test -run='^$' -fuzz="^$target\$" -fuzztime="${FUZZTIME:-3000x}" "$pkg" >>"$log" 2>&1 || status=$?
done
# The summary: each package's result and every failed or skipped test, with what
# the failed ones said.
grep -E '^(ok|FAIL|panic:)|^\s*--- SKIP' "$log" || true
if [ "$status" -ne 0 ]; then
	grep -E -B12 -A25 '^\s*--- FAIL|^panic:' "$log" | grep -v '^{' || true
fi
if grep -qE '^\s*--- SKIP' "$log"; then
	die "tests were skipped; every test must run"
fi
[ "$status" -eq 0 ] || die "go test failed (exit $status)"
echo "test.sh: all tests passed" >&2
