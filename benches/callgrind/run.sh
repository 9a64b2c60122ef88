#!/usr/bin/env bash
# Instructions per hop of `njia serve` under callgrind: deterministic where the load bench's
# CPU times vary by ±10 % on a shared machine. Counts user-space instructions only (the kernel's
# share is the same for any server: see BENCHMARKS.md).
#
#   benches/callgrind/run.sh [agencies|landrates|bare|paid] [BINARY]    (default: agencies, target/release/njia)
#
# `bare` walks the agencies requests against the load bench's bare hyper server (the floor:
# the same form parsed, a fixed reply).
#
# `paid` counts instructions per completed paid request instead: 1,000 land-rates walks that
# pay (sandbox mode, the simulated citizen enters the PIN at once), counted from the first hop
# until the last receipt SMS is sent, so the submit hop, the push, the callback, the delivery
# and the receipt are all in the count.
#
# Needs valgrind and python3. Warms up with 100 walks, then counts 1,000 walks (5,000 hops).
set -euo pipefail
cd "$(dirname "$0")/../.."
walk=${1:-agencies}
bin=${2:-target/release/njia}
[ -x "$bin" ] || cargo build --release --quiet
serve=(serve --listen)
if [ "$walk" = bare ]; then
    cargo bench --bench load --no-run --quiet 2>/dev/null
    bin=$(ls -t target/release/deps/load-* | grep -v '\.d$' | head -1)
    serve=(--serve-bare)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'resume_window_secs = 0\n[rate_limit]\nphone_per_minute = 4000000000\nphone_burst = 4000000000\n' >"$work/bench.toml"
[ "$walk" = paid ] && printf '[dispatcher]\nsandbox_pin_delay_ms = 0\n' >>"$work/bench.toml"
port=$((20000 + RANDOM % 20000))
RUST_LOG=error valgrind --tool=callgrind --callgrind-out-file="$work/out" --instr-atstart=no \
    "$bin" "${serve[@]}" "127.0.0.1:$port" --data-dir "$work/data" --config "$work/bench.toml" 2>"$work/valgrind.log" &
server=$!
for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.3; done
python3 benches/callgrind/drive.py "$port" 100 warm "$walk"
[ "$walk" = paid ] && python3 benches/callgrind/drive.py "$port" wait 100
callgrind_control -i on "$server" >/dev/null 2>&1
python3 benches/callgrind/drive.py "$port" 1000 run1 "$walk"
[ "$walk" = paid ] && python3 benches/callgrind/drive.py "$port" wait 1100
callgrind_control -i off "$server" >/dev/null 2>&1
callgrind_control -d "$server" >/dev/null 2>&1
sleep 1
kill "$server"
wait "$server" 2>/dev/null || true
total=$(grep '^totals:' "$work/out.1" | tail -1 | cut -d' ' -f2)
cp "$work/out.1" "target/callgrind-$walk.out"
if [ "$walk" = paid ]; then
    echo "paid walk: $((total / 1000)) instructions per completed paid request ($total for 1,000 requests, 4,000 hops)"
else
    echo "$walk walk: $((total / 5000)) instructions per hop ($total for 5,000 hops)"
fi
echo "profile: callgrind_annotate --inclusive=yes target/callgrind-$walk.out"
