#!/usr/bin/env bash
# kill_resume.sh — kill -9 ./train on its built-in default at random moments, resume it each time, and require
# the uninterrupted run's results and whole files. Not part of `make test` (15-30 minutes): `make kill-resume`.
#   1. run A: ./train --out runs/A, uninterrupted, each output line time-stamped. Its stage lines ("[sapt] task
#      2/6 ...", "[seqlora] ...", "[single] ...") cut its timeline (backbone build left out) into segments.
#   2. run B: ./train --out runs/B, killed with SIGKILL KILLS times, then ./train --resume runs/B after each kill
#      (a fresh start while args.json does not exist yet), and once more to the end. The kill moments are
#      drawn (seeded) uniformly over run A's timeline up to its last stage line; a moment at fraction f of
#      segment m kills the attempt once run B has kept m stages (stages of a checkpointed method survive a
#      kill, single-task runs do not) and has spent f of run A's segment time in the next one, or at once
#      when run B ends that segment sooner (an attempt that starts past segment m takes its moment in the
#      segment it starts in). Anchored on progress, not on the clock, every kill happens however
#      much faster or slower than run A the machine now runs, and the moments spread over the whole run.
#   3. checks: report.json identical without its wall-time fields ("seconds"), report.md identical with the
#      time column masked, PNGs and final checkpoints byte-identical, no *.tmp left, every JSON / JSONL line
#      parses, every .safetensors (and loop state) and .model loads (tests/reliability/check_run.cpp).
# Settings (environment): TRAIN (./train), CHECK (build/check_run), WORK (scratch folder whose runs/ both runs
# share; default a new /tmp folder), KILLS (20), SEED (1), NICE (10), EXTRA_ARGS (added to both runs, e.g.
# "--checkpoint-every 10" for mid-task checkpoints).
set -euo pipefail

TRAIN=$(realpath "${TRAIN:-./train}")
CHECK=$(realpath "${CHECK:-build/check_run}")
KILLS=${KILLS:-20}
SEED=${SEED:-1}
NICE=${NICE:-10}
EXTRA_ARGS=${EXTRA_ARGS:-}
WORK=${WORK:-$(mktemp -d /tmp/sapt_kill_resume.XXXXXX)}
for tool in "$TRAIN" "$CHECK"; do
    [[ -x $tool ]] || { echo "kill_resume.sh: $tool is not an executable (build it: make kill-resume)" >&2; exit 2; }
done
mkdir -p "$WORK/attempts"
cd "$WORK"
rm -rf runs/A runs/B attempts/*
echo "kill_resume.sh: work folder $WORK, train $TRAIN, $KILLS kills, seed $SEED"

now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# shellcheck disable=SC2086  # EXTRA_ARGS is a list of words
run_train() { nice -n "$NICE" "$TRAIN" "$@" $EXTRA_ARGS; }

# ---- 1. the uninterrupted run ------------------------------------------------------------------------
stamp_lines() { while IFS= read -r line; do printf '%s %s\n' "$(now)" "$line"; done; }
start=$(now)
run_train --out runs/A 2>&1 | stamp_lines > attempts/A.stamped || {
    cat attempts/A.stamped; echo "run A failed" >&2; exit 1; }
total_a=$(seconds_since "$start")
cut -d' ' -f2- attempts/A.stamped > attempts/A.out
stage_pattern='^\[[a-z-]+\] task [0-9]+/[0-9]+ '
# The timeline starts when the backbone is ready (run B finds it cached); stage times are relative to that.
origin=$(awk -v s="$start" '/ backbone ready in /{ s = $1 } END { printf "%.3f", s }' attempts/A.stamped)
mapfile -t stage_times < <(awk -v o="$origin" \
    '/^[0-9.]+ \[[a-z-]+\] task [0-9]+\/[0-9]+ / { printf "%.3f\n", $1 - o }' attempts/A.stamped)
stages=${#stage_times[@]}
(( stages > 0 )) || { echo "run A printed no stage lines" >&2; exit 1; }
echo "run A (uninterrupted): ${total_a}s; $stages stages, the last done at ${stage_times[-1]}s after the backbone was ready"

# ---- 2. the killed run -------------------------------------------------------------------------------
# Kill moments, sorted, each as: stages kept before it, its offset into the next segment (seconds of run A).
mapfile -t moments < <(awk -v n="$KILLS" -v s="$SEED" -v times="${stage_times[*]}" 'BEGIN {
    m = split(times, t, " "); t[0] = 0; srand(s)
    for (i = 0; i < n; i++) {
        u = rand() * t[m]; j = 0
        while (j < m && t[j + 1] <= u) j++
        printf "%.2f %d %.2f\n", u, j, u - t[j]
    }}' | sort -g)

# Stages run B has kept: the distinct stage lines of checkpointed methods over all attempts, plus the
# single-task lines of this attempt (those runs restart after a kill).
kept_stages() {
    local continual single
    continual=$(cat attempts/B_*.out | grep -E "$stage_pattern" | grep -v '^\[single\]' | awk '{ print $1, $3 }' |
        sort -u | wc -l)
    single=$(grep -c '^\[single\] task ' "$1" || true)
    echo $((continual + single))
}

# What the attempt was doing when it died, from the newest log.jsonl line and its own output.
phase_of() {
    local attempt_start=$1 out=$2 log last
    if [[ ! -f runs/B/args.json ]]; then echo "startup, before args.json"; return; fi
    if grep -q '^\[seqlora\] task \([0-9]*\)/\1 ' attempts/B_*.out; then  # both methods are done
        last=$(grep '^\[single\]' "$out" | tail -n1 | cut -c1-24)
        echo "single-task reference runs, no checkpoint (${last:-before the first one ended, or startup})"; return
    fi
    log=$(ls -t runs/B/*/log.jsonl 2>/dev/null | head -n1 || true)
    if [[ -z $log ]] || awk -v a="$attempt_start" -v m="$(stat -c %.Y "$log")" 'BEGIN { exit !(m < a) }'; then
        echo "startup (data, tokenizer, model, checkpoint load)"; return
    fi
    last=$(tail -n1 "$log")
    local method=${log#runs/B/}
    method=${method%/log.jsonl}
    case $last in
        *'"event":"train_step"'*)
            echo "$(sed -n 's/.*"step":\([0-9]*\).*"task":"\([^"]*\)".*/\2 step \1/p' <<< "$last")" \
                 "(or what follows that step: the next step, pseudo samples, evaluation)";;
        *'"event":"task_done"'*)
            echo "$method: start of the task after stage $(sed -n 's/.*"stage":\([0-9]*\).*/\1/p' <<< "$last")";;
        *) echo "$method: unknown ($last)";;
    esac
}

kills=0; resumes=0; fresh_starts=0; finished=0
kill_report=()
for k in "${!moments[@]}"; do
    read -r moment stage offset <<< "${moments[$k]}"
    out=attempts/B_$((k + 1)).out
    if [[ -f runs/B/args.json ]]; then
        how="--resume"; resumes=$((resumes + 1))
        nice -n "$NICE" "$TRAIN" --resume runs/B > "$out" 2>&1 &
    else
        how="fresh start"; [[ $k -gt 0 ]] && fresh_starts=$((fresh_starts + 1))
        # Not through run_train: a backgrounded function is a subshell, and $! would be it, not ./train.
        # shellcheck disable=SC2086
        nice -n "$NICE" "$TRAIN" --out runs/B $EXTRA_ARGS > "$out" 2>&1 &
    fi
    pid=$!
    attempt_start=$(now)
    segment_start=""
    kept=$(kept_stages "$out")
    (( kept > stage )) && stage=$kept  # run B is already past that segment: the moment moves to the current one
    while kill -0 "$pid" 2>/dev/null; do
        kept=$(kept_stages "$out")
        (( kept > stage )) && break  # run B finished that segment sooner than run A: kill at its end
        if (( kept == stage )); then
            [[ -n $segment_start ]] || segment_start=$(now)
            awk -v s="$segment_start" -v o="$offset" -v n="$(now)" 'BEGIN { exit !(n - s >= o) }' && break
        fi
        sleep 0.2
    done
    if ! kill -9 "$pid" 2>/dev/null; then  # it ended before its moment: a failure, or the run's last second
        status=0; wait "$pid" || status=$?
        [[ $status -eq 0 ]] || { cat "$out"; echo "attempt $((k + 1)) ($how) failed with status $status" >&2; exit 1; }
        echo "attempt $((k + 1)) ($how) finished before its kill moment: $kills kills in all"
        finished=1
        break
    fi
    wait "$pid" 2>/dev/null || true
    kills=$((kills + 1))
    ran=$(seconds_since "$attempt_start")
    phase=$(phase_of "$attempt_start" "$out")
    kill_report+=("kill $kills: ${ran}s into attempt $((k + 1)) ($how), moment ${moment}s of run A (after stage $stage): $phase")
    echo "${kill_report[-1]}"
done
if (( finished == 0 )); then
    resumes=$((resumes + 1))
    start=$(now)
    nice -n "$NICE" "$TRAIN" --resume runs/B > attempts/B_final.out 2>&1 || {
        cat attempts/B_final.out; echo "the final resume failed" >&2; exit 1; }
    echo "final resume ran to the end in $(seconds_since "$start")s"
fi

# ---- 3. checks ---------------------------------------------------------------------------------------
failures=0
check() {  # check DESCRIPTION COMMAND...: runs the command, counts a failure
    local what=$1; shift
    if "$@"; then echo "  ok   $what"; else echo "  FAIL $what"; failures=$((failures + 1)); fi
}
# A --compare run (EXTRA_ARGS="--compare all ...") writes compare.json / .md / .png instead of report.*; its
# table has a wall-time column and its plot the wall times, so the PNG is not compared there.
report=report
[[ -f runs/A/compare.json ]] && report=compare
mask_times() { sed -E 's/ +[0-9]+(\.[0-9]+)?s *$/ <time>/; s/\| *[0-9]+(\.[0-9]+)? *\|$/| <time> |/' "$1"; }
same_md() { diff <(mask_times "runs/A/$report.md") <(mask_times "runs/B/$report.md") > /dev/null; }
echo "checks:"
check "$report.json identical except wall time (\"seconds\")" "$CHECK" --same-json "runs/A/$report.json" "runs/B/$report.json"
check "$report.md identical except the time column" same_md
pngs=(runs/A/*.png)
[[ $report == compare ]] && pngs=()
for f in "${pngs[@]}" runs/A/*/checkpoint.safetensors; do
    check "${f#runs/A/} byte-identical" cmp -s "$f" "runs/B/${f#runs/A/}"
done
check "no *.tmp file under runs/" test -z "$(find runs -name '*.tmp')"
check "every file whole and loadable (check_run runs/)" "$CHECK" runs

echo
echo "summary: $kills kills (SIGKILL) of ${#moments[@]} planned$( (( finished )) && echo ", the run ended before the next moment"), $resumes resumes," \
     "$fresh_starts fresh starts (killed before args.json existed)"
echo "  run A ${total_a}s uninterrupted; kill moments over its first ${stage_times[-1]}s after the backbone was ready"
for line in "${kill_report[@]}"; do echo "  $line"; done
if (( failures == 0 )); then
    echo "  identical: yes ($report.json without \"seconds\", $report.md without times, PNGs, checkpoints); files whole: yes"
else
    echo "  identical / whole: NO ($failures failed checks; attempts' output in $WORK/attempts)"
fi
exit $(( failures > 0 ))
