#!/usr/bin/env bash
# Data-parallel training under mpirun (issue 16) on a tiny model.
# MODE match:
# - -np 2 and -np 3 (uneven shards) with global batch 8 give -np 1's loss
#   curve and parameters (weights, EMAs, AdamW moments) after 5 steps to
#   1e-5 relative, and mpirun -np 1 is the plain run bit for bit;
# - a run of 3 steps on one process resumed under -np 2 for 2 more equals
#   the 5-step run.
# MODE faults:
# - Ctrl-C (SIGINT to mpirun) saves once and stops every rank;
# - a rank killed mid-run makes mpirun fail and the checkpoint stays good;
# - a write error on rank 0 alone stops the job with its message, no hang;
# - refusals: batch smaller than the ranks, commands that do not run on
#   several ranks.
# Usage: mpi.sh match|faults PIXELDIT_BINARY COMPARE_CHECKPOINTS_BINARY MPIRUN
set -u
mode="$1"
bin="$2"
compare="$3"
mpirun="$4"
tmp=$(mktemp -d /tmp/pixeldit-mpi-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
source "$(dirname "$0")/check.sh" || exit 1
e2e=$(cd "$(dirname "$0")" && pwd) # tiny.ini, the shared tiny model

# CI runs as root on 2 cores; one thread per rank; no ptrace-based copies
# (containers often forbid them)
export OMP_NUM_THREADS=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi() { # mpi NP ARGS... : pixeldit under mpirun, bounded so a hang fails the test
  local np="$1"
  shift
  timeout -s KILL 60 "$mpirun" --allow-run-as-root --oversubscribe -np "$np" "$bin" "$@"
}
bg_mpi() { # bg_mpi NP ARGS... : mpirun in the background, its pid in $job, killed after 60 s
  local np="$1"
  shift
  "$mpirun" --allow-run-as-root --oversubscribe -np "$np" "$bin" "$@" >"$tmp/out" 2>&1 &
  job=$!
  (sleep 60 && kill -9 "$job") >/dev/null 2>&1 &
  watchdog=$!
}
bg_wait() { # bg_wait : waits for $job; its exit code in $rc
  wait "$job"
  rc=$?
  pkill -P "$watchdog" sleep 2>/dev/null # its sleep, then itself
  kill "$watchdog" 2>/dev/null
}

cat >"$tmp/tiny.ini" <<INI
[config]
base = $e2e/tiny.ini
[train]
threads = 1
hflip = true
final_grid = false
INI

# loss columns of two log.csv files agree to 1e-5 relative, row by row
same_losses() {
  paste -d, <(tail -n +2 "$1" | cut -d, -f1,3) <(tail -n +2 "$2" | cut -d, -f1,3) | awk -F, '
    { n++; if ($1 != $3) bad = 1; d = $2 - $4; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2;
      if (d > 1e-5 * s + 1e-6) bad = 1 }
    END { exit (bad || n == 0) }'
}

if [[ $mode == match ]]; then
check "one process, 5 steps" 0 "$bin" train "$tmp/tiny.ini" --out "$tmp/np0" --steps 5 --quiet
check "mpirun -np 1, 5 steps" 0 mpi 1 train "$tmp/tiny.ini" --out "$tmp/np1" --steps 5 --quiet
check "-np 1 is the plain run bit for bit" 0 "$compare" "$tmp/np0/checkpoint-last.safetensors" \
  "$tmp/np1/checkpoint-last.safetensors" 0
check "mpirun -np 2, 5 steps" 0 mpi 2 train "$tmp/tiny.ini" --out "$tmp/np2" --steps 5
expect_in_output "-np 2 says it runs on 2 ranks" "data-parallel on 2 MPI ranks"
expect "-np 2 loss curve = -np 1's" same_losses "$tmp/np1/log.csv" "$tmp/np2/log.csv"
check "-np 2 parameters = -np 1's" 0 "$compare" "$tmp/np1/checkpoint-last.safetensors" \
  "$tmp/np2/checkpoint-last.safetensors" 1e-5
check "mpirun -np 3 (shards 3, 3, 2), 5 steps" 0 mpi 3 train "$tmp/tiny.ini" --out "$tmp/np3" --steps 5 --quiet
expect "-np 3 loss curve = -np 1's" same_losses "$tmp/np1/log.csv" "$tmp/np3/log.csv"
check "-np 3 parameters = -np 1's" 0 "$compare" "$tmp/np1/checkpoint-last.safetensors" \
  "$tmp/np3/checkpoint-last.safetensors" 1e-5
expect "only rank 0 writes the run folder" test "$(ls "$tmp/np2")" = "$(ls "$tmp/np1")"

# a run of one process continued under -np 2
check "one process, 3 steps" 0 "$bin" train "$tmp/tiny.ini" --out "$tmp/res" --steps 3 --quiet
check "resume under -np 2, 2 steps" 0 mpi 2 train "$tmp/tiny.ini" --out "$tmp/res" --steps 2 --quiet \
  --resume "$tmp/res/checkpoint-last.safetensors"
expect "resumed loss curve = the 5-step run's" same_losses "$tmp/np1/log.csv" "$tmp/res/log.csv"
check "resumed parameters = the 5-step run's" 0 "$compare" "$tmp/np1/checkpoint-last.safetensors" \
  "$tmp/res/checkpoint-last.safetensors" 1e-5

fi

if [[ $mode == faults ]]; then
# Ctrl-C on mpirun: every rank stops after the same step, rank 0 saves once
bg_mpi 2 train "$tmp/tiny.ini" --out "$tmp/int" --steps 1000000 --quiet
for _ in $(seq 100); do [[ -s "$tmp/int/log.csv" ]] && break; sleep 0.1; done
sleep 0.5
kill -INT "$job"
bg_wait
expect "Ctrl-C: mpirun exits non-zero (got $rc)" test "$rc" -ne 0
expect_in_output "Ctrl-C: saved once" "interrupted at step .*; checkpoint saved"
expect "Ctrl-C: one save message" test "$(grep -c 'checkpoint saved' "$tmp/out")" = 1
last=$(tail -n 1 "$tmp/int/log.csv" | cut -d, -f1)
check "Ctrl-C: checkpoint readable" 0 "$bin" info "$tmp/int/checkpoint-last.safetensors"
expect_in_output "Ctrl-C: checkpoint holds the last logged step ($last)" "step: $last "

# a rank killed mid-run: mpirun fails, the last checkpoint stays good
bg_mpi 2 train "$tmp/tiny.ini" --out "$tmp/kill" --steps 1000000 --quiet --set train.ckpt_every=20
for _ in $(seq 100); do [[ -f "$tmp/kill/checkpoint-last.safetensors" ]] && break; sleep 0.1; done
victim=$(pgrep -P "$job" -f "train" | tail -n 1)
[[ -n "$victim" ]] && kill -9 "$victim"
bg_wait
expect "kill -9 of a rank: mpirun exits non-zero (got $rc)" test "$rc" -ne 0
check "kill -9: checkpoint readable" 0 "$bin" info "$tmp/kill/checkpoint-last.safetensors"
check "kill -9: resume from it" 0 "$bin" train "$tmp/tiny.ini" --out "$tmp/kill" --steps 1 --quiet \
  --resume "$tmp/kill/checkpoint-last.safetensors"

# rank 0 alone fails (log.csv on a full disk) while rank 1 waits in the
# next step's reduction: the job ends with rank 0's message, not a hang
if [[ -w /dev/full ]]; then
  mkdir -p "$tmp/full"
  ln -s /dev/full "$tmp/full/log.csv"
  check "write error on rank 0 stops all" 1 mpi 2 train "$tmp/tiny.ini" --out "$tmp/full" --steps 100 --quiet \
    --set train.log_every=5 --force
  expect_in_output "write error on rank 0 reported" "log.csv: write failed"
fi

# refusals
check "batch smaller than the ranks" 1 mpi 3 train "$tmp/tiny.ini" --out "$tmp/small" --steps 1 --quiet \
  --set train.batch_size=2
expect_in_output "batch smaller than the ranks: says why" "batch_size 2 is smaller than the 3 MPI ranks"
expect "batch smaller than the ranks: agreed, no abort" test "$(grep -c MPI_ABORT "$tmp/out")" = 0
check "sample refused on 2 ranks" 2 mpi 2 sample --ckpt "$tmp/np1/checkpoint-last.safetensors" --out "$tmp/g.png"
expect_in_output "sample refusal says why" "only train, bench, info and version run on several MPI ranks"
check "version under -np 2" 0 mpi 2 version
expect_in_output "version names MPI and the ranks" "MPI: Open MPI .*; 2 ranks"
fi

echo "$fails failed"
[[ $fails -eq 0 ]]
