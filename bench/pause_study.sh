# Sourced by the timing scripts (bench/bf16_ab.sh, bench/speed_report.sh):
# pauses a running `pixeldit ablate` (the background study) with SIGSTOP
# and resumes it with SIGCONT when the sourcing script exits, so nothing
# else runs while they time. Equal-step study results do not depend on it.
study_pids=$(pgrep -f "pixeldit ablate" || true)
[[ -n "$study_pids" ]] && kill -STOP $study_pids
trap '[[ -n "$study_pids" ]] && kill -CONT $study_pids' EXIT
sleep 1
