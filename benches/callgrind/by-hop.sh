#!/usr/bin/env bash
# Instructions of each hop of a walk under callgrind: the walk counted with its first K hops for
# K = 1, 2, ... (`NJIA_HOPS`, see run.sh), each hop the difference of two counts. Exact where
# the load bench's CPU times are noisy, and it needs no control walk: the search walk's third
# hop is the search hop itself.
#
#   benches/callgrind/by-hop.sh [search|control|catalogue|agencies] [BINARY]
set -euo pipefail
cd "$(dirname "$0")/../.."
walk=${1:-search}
hops=5
{ [ "$walk" = search ] || [ "$walk" = control ]; } && hops=4
previous=0
line=""
for k in $(seq 1 "$hops"); do
    total=$(NJIA_HOPS=$k benches/callgrind/run.sh "$walk" "${@:2}" | sed -n 's/.*(\([0-9]*\) for .*/\1/p')
    line="$line hop $k: $(((total - previous) / 1000));"
    previous=$total
done
echo "$walk walk, instructions by hop (1,000 walks each):$line"
