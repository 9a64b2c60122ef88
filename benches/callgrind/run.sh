#!/usr/bin/env bash
# Instructions per hop of `njia serve` under callgrind: deterministic where the load bench's
# CPU times vary by ±10 % on a shared machine. Counts user-space instructions only (the kernel's
# share is the same for any server: see BENCHMARKS.md).
#
#   benches/callgrind/run.sh [agencies|landrates|bare] [BINARY]    (default: agencies, target/release/njia)
#
# `bare` walks the agencies requests against the load bench's bare hyper server (the floor:
# the same form parsed, a fixed reply).
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
port=$((20000 + RANDOM % 20000))
RUST_LOG=error valgrind --tool=callgrind --callgrind-out-file="$work/out" --instr-atstart=no \
    "$bin" "${serve[@]}" "127.0.0.1:$port" --data-dir "$work/data" --config "$work/bench.toml" 2>"$work/valgrind.log" &
server=$!
for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.3; done
python3 benches/callgrind/drive.py "$port" 100 warm "$walk"
callgrind_control -i on "$server" >/dev/null 2>&1
python3 benches/callgrind/drive.py "$port" 1000 run1 "$walk"
callgrind_control -i off "$server" >/dev/null 2>&1
callgrind_control -d "$server" >/dev/null 2>&1
sleep 1
kill "$server"
wait "$server" 2>/dev/null || true
total=$(grep '^totals:' "$work/out.1" | tail -1 | cut -d' ' -f2)
cp "$work/out.1" "target/callgrind-$walk.out"
echo "$walk walk: $((total / 5000)) instructions per hop ($total for 5,000 hops)"
echo "profile: callgrind_annotate --inclusive=yes target/callgrind-$walk.out"
