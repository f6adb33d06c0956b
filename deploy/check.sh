#!/bin/sh
# Checks the files of deploy/ with the real tools, where they are installed on this machine:
#
#   sh deploy/check.sh            # from anywhere; exit 1 if a check fails
#
# - compose.yaml and compose.workers.yaml: `docker compose config` (Compose v2) with a throwaway
#   environment; with a running Docker engine also `docker compose build` and `intake --help` in
#   the image (no registry is needed beyond the python:3.11-slim, postgres:16 and caddy:2 base
#   images, which must be present or pullable).
# - intake.service, intake-webhook@.service, intake-backup.service and .timer: `systemd-analyze verify` in a scratch root holding
#   the system's unit tree and a stand-in for /opt/incident-intake/.venv/bin/intake and /bin/sh; any
#   complaint counts as a failure.
# - Caddyfile: `caddy adapt`, and the log filter that drops the secret header and Authorization.
#
# Each check that cannot run says so and why; it is not counted as passed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
ran=0

say() { printf '%s\n' "$*"; }
fail() { say "FAIL: $*"; failed=1; }

# --- Compose ------------------------------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
    # Placeholders, not secrets: `docker compose config` only needs every variable set.
    cat >"$scratch/env" <<'EOF'
POSTGRES_PASSWORD=0123456789abcdef
INTAKE_BOT_TOKEN=123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
INTAKE_PUBLIC_HOST=intake.example.org
INTAKE_WEBHOOK_URL=https://intake.example.org/telegram
EOF
    for file in compose.yaml compose.workers.yaml; do
        if out=$(cd "$here" && docker compose --env-file "$scratch/env" -f "$file" config -q 2>&1); then
            say "ok: docker compose config $file"
        else
            fail "docker compose config $file: $out"
        fi
        ran=1
    done
    if docker info >/dev/null 2>&1; then
        if (cd "$here" && docker compose --env-file "$scratch/env" -f compose.yaml build >"$scratch/build.log" 2>&1) \
            && (cd "$here" && docker run --rm incident-intake:local intake --help >/dev/null); then
            say "ok: image built, intake runs in it"
        else
            fail "docker compose build or intake in the image (see the output above)"
            cat "$scratch/build.log"
        fi
    else
        say "skipped: docker compose build (no Docker engine reachable: docker info fails)"
    fi
else
    say "skipped: compose files (no Docker Compose v2: \`docker compose version\` fails;" \
        "Debian 12's docker-compose 1.29 cannot read them)"
fi

# --- systemd units ------------------------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1 && [ -d /usr/lib/systemd/system ]; then
    root="$scratch/root"
    mkdir -p "$root/etc/systemd/system" "$root/opt/incident-intake/.venv/bin" "$root/usr/lib/systemd"
    cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
    mkdir -p "$root/bin"
    for stub in "$root/opt/incident-intake/.venv/bin/intake" "$root/bin/sh"; do
        printf '#!/bin/sh\n' >"$stub"
        chmod 755 "$stub"
    done
    cp "$here/intake.service" "$root/etc/systemd/system/incident-intake.service"
    cp "$here/intake-webhook@.service" "$here/intake-backup.service" "$here/intake-backup.timer" \
        "$root/etc/systemd/system/"
    for unit in incident-intake.service intake-webhook@8081.service intake-backup.service \
            intake-backup.timer; do
        out=$(systemd-analyze verify --root="$root" "/etc/systemd/system/$unit" 2>&1)
        if [ $? -eq 0 ] && [ -z "$out" ]; then
            say "ok: systemd-analyze verify $unit"
        else
            fail "systemd-analyze verify $unit: $out"
        fi
        ran=1
    done
else
    say "skipped: systemd units (no systemd-analyze or no /usr/lib/systemd/system)"
fi

# --- Caddy --------------------------------------------------------------------------------
if command -v caddy >/dev/null 2>&1; then
    if json=$(INTAKE_PUBLIC_HOST=intake.example.org HOME="$scratch" \
            caddy adapt --config "$here/Caddyfile" --adapter caddyfile 2>"$scratch/caddy.err"); then
        missing=""
        for header in X-Telegram-Bot-Api-Secret-Token Authorization; do
            printf '%s' "$json" | grep -q "request\\\\u003eheaders\\\\u003e$header\":{\"filter\":\"delete\"}" \
                || missing="$missing $header"
        done
        if [ -z "$missing" ]; then
            say "ok: caddy adapt Caddyfile ($(caddy version | cut -d' ' -f1)), log filter drops the secret header and Authorization"
        else
            fail "Caddyfile: the log filter does not drop:$missing"
        fi
    else
        fail "caddy adapt Caddyfile: $(cat "$scratch/caddy.err")"
    fi
    ran=1
else
    say "skipped: Caddyfile (no caddy binary)"
fi

if [ "$failed" -ne 0 ]; then
    exit 1
fi
if [ "$ran" -eq 0 ]; then
    say "nothing could be checked on this machine"
    exit 2
fi
say "all checks that could run passed"
