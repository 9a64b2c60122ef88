#!/usr/bin/env bash
# deploy/nginx/njia.conf run for real: nginx from Debian with a self-signed certificate in front
# of `njia serve`, as CI runs it. Through the proxy: the Africa's Talking walk, and Daraja's
# callback path. The channel's allow list must see the caller's address, not the proxy's:
# callers are told apart by the loopback address they connect from (127.0.0.2 is the telco,
# 127.0.0.3 is not), and a forged X-Forwarded-For from an untrusted caller, through the proxy
# or straight to njia, never counts. Exits non-zero at the first failure.
#
#   deploy/nginx/test.sh [NJIA_BINARY]        (default: target/debug/njia)
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
bin=${1:-$target/debug/njia}
command -v nginx >/dev/null || { echo "nginx is not installed: apt-get install nginx" >&2; exit 1; }
[ -x "$bin" ] || { echo "no njia binary at $bin: cargo build" >&2; exit 1; }
work=$(mktemp -d)
njia_pid=
nginx_pid=
cleanup() {
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
    [ -n "$njia_pid" ] && kill "$njia_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 5 "$work"/*.log >&2 || true; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
njia_port=$(free_port)
tls_port=$(free_port)

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

cat >"$work/njia.toml" <<TOML
listen = "127.0.0.1:$njia_port"
data_dir = "$work/data"

[channels.africastalking]
allow = ["127.0.0.2/32"]
trusted_proxies = ["127.0.0.1/32"]
TOML
"$bin" serve --config "$work/njia.toml" >"$work/njia.log" 2>&1 &
njia_pid=$!

# The shipped server block, on this run's ports and certificate, in a minimal nginx.conf.
sed -e "s#listen 443 ssl;#listen 127.0.0.1:$tls_port ssl;#" -e '/listen \[::\]:443 ssl;/d' \
    -e "s#server 127.0.0.1:8384;#server 127.0.0.1:$njia_port;#" \
    -e "s#/etc/ssl/certs/njia.example.go.ke.pem#$work/cert.pem#" \
    -e "s#/etc/ssl/private/njia.example.go.ke.key#$work/key.pem#" deploy/nginx/njia.conf >"$work/site.conf"
grep -q "listen 127.0.0.1:$tls_port ssl;" "$work/site.conf" || fail "the shipped server block changed shape"
cat >"$work/nginx.conf" <<CONF
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events {}
http {
    access_log $work/nginx-access.log;
    client_body_temp_path $work/body;
    proxy_temp_path $work/proxy;
    include $work/site.conf;
}
CONF
nginx -t -p "$work" -c "$work/nginx.conf" 2>"$work/nginx-test.log" || fail "nginx -t: $(cat "$work/nginx-test.log")"
nginx -p "$work" -c "$work/nginx.conf" &
nginx_pid=$!

for _ in $(seq 1 100); do curl -sf "127.0.0.1:$njia_port/healthz" >/dev/null && break; sleep 0.1; done
tls=(--cacert "$work/cert.pem" --resolve "localhost:$tls_port:127.0.0.1")
for _ in $(seq 1 100); do curl -sf "${tls[@]}" "https://localhost:$tls_port/healthz" >/dev/null && break; sleep 0.1; done

# status BODY URL [curl options...]: the HTTP status of an Africa's Talking hop.
hop_form() { echo "sessionId=$1&phoneNumber=%2B254711000555&networkCode=63902&serviceCode=*384%23&text=$2"; }
status() { curl -s -o "$work/body.txt" -w '%{http_code}' "$@"; }
via_proxy="https://localhost:$tls_port/ussd/africastalking"

# The telco (127.0.0.2) walks to home in Kiswahili over TLS.
[ "$(status "${tls[@]}" --interface 127.0.0.2 -d "$(hop_form p1 '')" "$via_proxy")" = 200 ] || fail "telco hop 1"
grep -q '^CON Chagua lugha' "$work/body.txt" || fail "telco hop 1: $(cat "$work/body.txt")"
[ "$(status "${tls[@]}" --interface 127.0.0.2 -d "$(hop_form p1 1)" "$via_proxy")" = 200 ] || fail "telco hop 2"
grep -q '^CON Karibu e-Citizen' "$work/body.txt" || fail "telco hop 2: $(cat "$work/body.txt")"
echo "through the proxy: the telco's walk reaches home"

# Anyone else is refused through the proxy, also when forging the telco's address.
[ "$(status "${tls[@]}" --interface 127.0.0.3 -d "$(hop_form p2 '')" "$via_proxy")" = 403 ] ||
    fail "a caller outside the allow list was not refused through the proxy"
[ "$(status "${tls[@]}" --interface 127.0.0.3 -H 'X-Forwarded-For: 127.0.0.2' -d "$(hop_form p3 '')" "$via_proxy")" = 403 ] ||
    fail "a forged X-Forwarded-For through the proxy was believed"
# Straight to njia, the header of an untrusted peer is not read at all.
[ "$(status --interface 127.0.0.3 -H 'X-Forwarded-For: 127.0.0.2' -d "$(hop_form p4 '')" \
    "http://127.0.0.1:$njia_port/ussd/africastalking")" = 403 ] || fail "a forged X-Forwarded-For straight to njia was believed"
echo "through the proxy and around it: forged addresses refused (403)"

# Daraja's callback path: its JSON reaches njia through the proxy and is answered in Daraja's shape.
callback='{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"ws_CO_191220191020363925","ResultCode":1032,"ResultDesc":"Request cancelled by user"}}}'
token=0123456789abcdef0123456789abcdef
[ "$(status "${tls[@]}" -H 'Content-Type: application/json' -d "$callback" "https://localhost:$tls_port/payments/stk/$token")" = 404 ] ||
    fail "a callback with an unknown token: $(cat "$work/body.txt")"
grep -q '"ResultDesc":"Unknown callback"' "$work/body.txt" || fail "callback answer: $(cat "$work/body.txt")"
[ "$(status "${tls[@]}" -H 'Content-Type: application/json' -d '{"Body":' "https://localhost:$tls_port/payments/stk/$token")" = 400 ] ||
    fail "a malformed callback was not refused with 400"
echo "through the proxy: Daraja's callback answered in Daraja's shape (unknown token 404, malformed 400)"
grep -q '127.0.0.2' "$work/nginx-access.log" || fail "nginx did not log the telco's address"
echo "nginx reverse proxy: ok"
