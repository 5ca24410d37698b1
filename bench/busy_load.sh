#!/bin/bash
# Training speed on bench-s, quiet and beside two nice-19 busy loops, for
# pixeldit and torch, and pixeldit with OMP_WAIT_POLICY=passive under load
# (docs/benchmarks-log.md, "Training beside two busy processes"). Run from
# anywhere, under the CPU lock if the machine is shared:
#     flock /tmp/pd-cpu.lock bench/busy_load.sh
# The busy loops are killed on exit, also on failure or interrupt.
cd "$(dirname "$0")/.." || exit 1
PIDS=()
stop_busy() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait "${PIDS[@]}" 2>/dev/null; PIDS=(); }
trap stop_busy EXIT INT TERM
PD="build/cli/pixeldit bench configs/bench-s.ini --steps 10 --warmup 2 --sample-steps 0 --no-peak"
TP="/usr/bin/python3 bench/torch_peer.py configs/bench-s.ini --steps 10 --warmup 2 --sample-steps 0 --no-peak"
run() { printf '%-28s ' "$1"; shift; "$@" 2>&1 | grep -E '^train' | head -1; }
run "pixeldit quiet" $PD
run "torch quiet" $TP
for i in 1 2; do nice -n 19 sh -c 'while :; do :; done' & PIDS+=($!); done
sleep 1
run "pixeldit busy2" $PD
run "torch busy2" $TP
OMP_WAIT_POLICY=passive run "pixeldit busy2 passive" $PD
stop_busy
