#!/usr/bin/env bash
# The Debian package on this machine, as CI runs it (root, no systemd running): build it,
# install it with dpkg -i, verify the unit, check the menus as ExecStartPre does, start the
# server as ExecStart does (as an unprivileged user, as DynamicUser would), dial it, reload it
# as ExecReload does, stop it, and purge the package. Exits non-zero at the first failure.
#
#   deploy/debian/test.sh [BINARY]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "run as root: it installs a package" >&2; exit 1; }
deb=$(deploy/debian/build.sh "${1:-}")
echo "built $deb ($(du -h "$deb" | cut -f1))"
server=
cleanup() {
    [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
    dpkg --purge njia >/dev/null 2>&1 || true
    rm -rf /var/lib/njia
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f /tmp/njia-pkg.log ] && tail -n 20 /tmp/njia-pkg.log >&2; exit 1; }

dpkg -i "$deb" >/dev/null
for f in /usr/bin/njia /lib/systemd/system/njia.service /etc/njia/njia.toml /etc/njia/menus/ecitizen.toml \
    /etc/njia/locales/sw/ecitizen.ftl /usr/share/njia/menus/ecitizen.toml /etc/njia/njia.env \
    /usr/share/njia/deploy/prometheus/njia-alerts.yml /usr/share/njia/deploy/grafana/njia-dashboard.json; do
    [ -e "$f" ] || fail "$f is not installed"
done
[ "$(stat -c %a /etc/njia/njia.env)" = 600 ] || fail "/etc/njia/njia.env is not 0600"
command -v njia >/dev/null || fail "njia is not on PATH"
echo "installed: $(dpkg-query -W -f '${Package} ${Version}' njia)"

unit=/lib/systemd/system/njia.service
if command -v systemd-analyze >/dev/null; then
    # Only the unit's own problems fail; systemd-analyze also reads units it depends on.
    if ! out=$(systemd-analyze verify "$unit" 2>&1); then fail "systemd-analyze verify: $out"; fi
    if echo "$out" | grep -q '^njia.service'; then fail "systemd-analyze verify: $out"; fi
    echo "systemd-analyze verify: clean"
fi
directive() { sed -n "s/^$1=//p" "$unit" | head -n 1; }

# ExecStartPre, then ExecStart, exactly as the unit has them, with its Environment= and as a user
# that owns only the state directory (what DynamicUser and StateDirectory give it).
pre=$(directive ExecStartPre)
$pre >/tmp/njia-pkg.log 2>&1 || fail "ExecStartPre ($pre)"
echo "ExecStartPre: $(tail -n 1 /tmp/njia-pkg.log)"
chown nobody /var/lib/njia
start=$(directive ExecStart)
env "$(directive Environment)" setpriv --reuid=nobody --regid=nogroup --clear-groups $start >/tmp/njia-pkg.log 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf 127.0.0.1:8384/healthz >/dev/null && break; sleep 0.1; done
curl -sf 127.0.0.1:8384/readyz >/dev/null || fail "the server is not ready"
hop() { curl -sf -d "sessionId=pkg-1&phoneNumber=%2B254711000777&networkCode=63902&serviceCode=*384%23&text=$1" \
    127.0.0.1:8384/ussd/africastalking; }
reply=$(hop "")
case "$reply" in "CON Chagua lugha"*) ;; *) fail "first screen: $reply" ;; esac
reply=$(hop "1")
case "$reply" in "CON Karibu e-Citizen"*) ;; *) fail "home: $reply" ;; esac
echo "dialled: ${reply%%$'\n'*}"
[ -f /var/lib/njia/njia.sqlite3 ] || fail "no store in /var/lib/njia"
grep -q '"level":"INFO"' /tmp/njia-pkg.log || fail "the log is not JSON (Environment=NJIA_LOG_FORMAT=json)"

# ExecReload: SIGHUP to the main process reloads the menus.
reload=$(directive ExecReload)
${reload//\$MAINPID/$server}
for _ in $(seq 1 50); do
    curl -s 127.0.0.1:8384/metrics | grep -q '^njia_menu_reloads_total{result="ok"} 1' && break
    sleep 0.1
done
curl -s 127.0.0.1:8384/metrics | grep -q '^njia_menu_reloads_total{result="ok"} 1' || fail "ExecReload did not reload"
echo "ExecReload: reloaded"

# KillSignal=SIGTERM drains and exits 0.
kill -TERM "$server"
wait "$server" || fail "the server did not exit 0 on SIGTERM"
server=
njia requests list --config /etc/njia/njia.toml >/dev/null || fail "njia requests list on the installed config"

dpkg --purge njia >/dev/null
for f in /usr/bin/njia /lib/systemd/system/njia.service /etc/njia; do
    [ ! -e "$f" ] || fail "$f is left after purge"
done
[ -f /var/lib/njia/njia.sqlite3 ] || fail "purge deleted the store (it is documented as kept)"
echo "purged: the binary, unit and /etc/njia are gone; the store in /var/lib/njia is kept"
echo "debian package: ok"
