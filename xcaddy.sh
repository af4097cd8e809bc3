#!/usr/bin/env bash
# xcaddy.sh builds Caddy with this plugin (with xcaddy) and runs the demo.
#
#   ./xcaddy.sh demo     build what is missing, then run the demo until Ctrl-C:
#                        Caddy with the plugin on http://localhost:8080, the demo
#                        app behind it, the embedded Badger store in .demo/, and
#                        the mail catcher on http://localhost:8025
#   ./xcaddy.sh build    only build bin/caddy, bin/demoapp and bin/mailbox
#
# Needs Go 1.26 (the module proxy must be reachable). Everything else (xcaddy,
# Caddy v2.11.9 and the plugin's dependencies) comes through the module proxy.
set -euo pipefail
cd "$(dirname "$0")"

readonly CADDY_VERSION=v2.11.9
readonly XCADDY=github.com/caddyserver/xcaddy/cmd/xcaddy@v0.4.5
readonly MODULE=github.com/caddy-password-reset/caddy-password-reset
# The module proxy answers 403 (not 404) for a module it has never seen, which
# makes Go give up before it applies the replacement; an explicit pseudo-version
# avoids the lookup.
readonly PSEUDO=v0.0.0-00010101000000-000000000000

die() { echo "xcaddy.sh: $*" >&2; exit 1; }

need_go() {
	command -v go >/dev/null 2>&1 || die "Go is not installed (want Go 1.26: https://go.dev/dl/)"
}

# stale reports whether bin/caddy is missing or older than any file it is built
# from (tests, the examples, the benchmark and the fault tests are not part of it).
stale() {
	[ ! -x bin/caddy ] && return 0
	[ -n "$(find . \( -path ./.demo -o -path ./.git -o -path ./examples -o -path ./e2e -o -path ./bench \
		-o -path ./faults -o -path ./tools -o -path ./internal/testenv -o -path ./storage/storagetest \) -prune -o \
		\( \( -name '*.go' ! -name '*_test.go' \) -o -name go.mod -o -name go.sum -o -path './templates/*' \) \
		-newer bin/caddy -print -quit)" ]
}

build() {
	need_go
	mkdir -p bin
	if stale; then
		echo "xcaddy.sh: building Caddy $CADDY_VERSION with the plugin (a cold build takes about two minutes)" >&2
		go run "$XCADDY" build "$CADDY_VERSION" --output bin/caddy --with "$MODULE@$PSEUDO=./"
	fi
	go build -o bin/ ./examples/demoapp/cmd/demoapp ./examples/mailbox/cmd/mailbox
	grep -qx 'http.handlers.password_reset' <<<"$(bin/caddy list-modules)" || die "bin/caddy lacks the plugin"
}

demo() {
	build
	mkdir -p .demo
	# The hook secret is shared by Caddy and the app; a fresh one per run.
	RESET_HOOK_SECRET="${RESET_HOOK_SECRET:-$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')}"
	export RESET_HOOK_SECRET
	# The admin token that opens the dashboard and the Management API on :8081.
	RESET_ADMIN_TOKEN="${RESET_ADMIN_TOKEN:-$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')}"
	export RESET_ADMIN_TOKEN
	pids=()
	cleanup() {
		trap - EXIT INT TERM
		kill "${pids[@]}" 2>/dev/null || true
		wait 2>/dev/null || true
	}
	trap cleanup EXIT INT TERM
	bin/mailbox -smtp 127.0.0.1:1025 -http 127.0.0.1:8025 & pids+=($!)
	bin/demoapp -addr 127.0.0.1:9000 & pids+=($!)
	bin/caddy run --config Caddyfile.example --adapter caddyfile & pids+=($!)
	cat >&2 <<TXT

  The demo is starting:
    the app       http://localhost:8080/login   (alice@example.com / alice-old-password-1)
    sent mail     http://localhost:8025
    admin         http://127.0.0.1:8081/admin/  (admin token: $RESET_ADMIN_TOKEN)
  Click "Forgot your password?", then open the mail and follow its link.
  The Management API takes the same token:
    curl -H "Authorization: Bearer \$RESET_ADMIN_TOKEN" http://127.0.0.1:8081/api/v2/email-templates/reset_email
  Ctrl-C stops everything.

TXT
	# Stop everything as soon as any one of the three exits.
	wait -n "${pids[@]}"
}

case "${1:-demo}" in
	demo) demo ;;
	build) build ;;
	*) die "usage: ./xcaddy.sh [demo|build]" ;;
esac
