#!/usr/bin/env bash
# The libFuzzer CI step (issue 9): builds the fuzz preset (clang, ASan +
# UBSan, coverage on all code, only the fuzz targets), then runs every
# *_fuzz binary the build produced for a bounded time, as many at once as
# there are cores. Each run starts from a temporary copy of its seed corpus
# (fuzz/corpus/<name>/), so the repository's corpus never grows here.
#
# Prints, per target, the inputs it executed (libFuzzer's final
# stat::number_of_executed_units) and exits non-zero on any crash, leak,
# timeout or out-of-memory, keeping the input that caused it under
# build/fuzz/artifacts/ and printing its path and the end of the log.
#
#   scripts/fuzz.sh [seconds-per-target]   default 20; e.g. 600 for a long run
# Environment:
#   RS_FUZZ_JOBS     targets run at once (default: nproc)
#   RS_FUZZ_TARGETS  space-separated names to run instead of all (e.g. link_fuzz)
#   RS_FUZZ_NO_BUILD skip the configure and build steps when set to 1
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-20}
[[ "$secs" =~ ^[0-9]+$ && "$secs" -gt 0 ]] || {
    echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2
    exit 2
}
jobs=${RS_FUZZ_JOBS:-$(nproc)}

if [[ "${RS_FUZZ_NO_BUILD:-0}" != 1 ]]; then
    cmake --preset fuzz >/dev/null
    cmake --build --preset fuzz -j"$(nproc)"
fi

bindir=build/fuzz/fuzz
artifacts=$PWD/build/fuzz/artifacts
mkdir -p "$artifacts"
work=$(mktemp -d "${TMPDIR:-/tmp}/rs-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Every target the build produced, not a fixed list: a new fuzz/<x>_fuzz.cpp
# is run as soon as it builds.
targets=()
if [[ -n "${RS_FUZZ_TARGETS:-}" ]]; then
    for n in $RS_FUZZ_TARGETS; do targets+=("$bindir/$n"); done
else
    while IFS= read -r t; do targets+=("$t"); done \
        < <(find "$bindir" -maxdepth 1 -type f -perm -u+x -name '*_fuzz' | sort)
fi
if [[ ${#targets[@]} -eq 0 ]]; then
    echo "fuzz: no *_fuzz binaries under $bindir" >&2
    exit 1
fi

# One target: copy its seeds, run it, leave <name>.rc and <name>.log in $work.
run_one() {
    local bin=$1 name corpus rc=0
    name=$(basename "$bin")
    corpus=$work/corpus/$name
    mkdir -p "$corpus"
    if [[ -d fuzz/corpus/$name ]]; then cp -R "fuzz/corpus/$name/." "$corpus/"; fi
    # detect_leaks: a leak fails the run like a crash. halt_on_error: the
    # first UBSan report is a crash with an input, not a line in a log.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
        "$corpus" >"$work/$name.log" 2>&1 || rc=$?
    echo "$rc" >"$work/$name.rc"
}

echo "== libFuzzer: ${#targets[@]} targets, ${secs}s each, $jobs at a time =="
running=0
for t in "${targets[@]}"; do
    if [[ ! -x "$t" ]]; then
        echo "fuzz: $t was not built" >&2
        exit 1
    fi
    run_one "$t" &
    running=$((running + 1))
    if [[ $running -ge $jobs ]]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

failed=()
total=0
printf '%-26s %14s  %s\n' target inputs result
for t in "${targets[@]}"; do
    name=$(basename "$t")
    log=$work/$name.log
    rc=$(cat "$work/$name.rc" 2>/dev/null || echo 99)
    # "units" in clang 14's libFuzzer, "runs" in older ones.
    runs=$(awk '/^stat::number_of_executed_(units|runs):/ {print $2}' "$log" | tail -n1)
    runs=${runs:-0}
    total=$((total + runs))
    if [[ "$rc" == 0 ]]; then
        printf '%-26s %14s  %s\n' "$name" "$runs" ok
        continue
    fi
    failed+=("$name")
    kind=$(grep -oE 'ERROR: (libFuzzer: [a-z-]+|AddressSanitizer: [A-Za-z-]+|LeakSanitizer)|runtime error' "$log" |
        head -n1 || true)
    printf '%-26s %14s  FAILED (exit %s%s)\n' "$name" "$runs" "$rc" "${kind:+: $kind}"
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)
    echo "---- $name: last 40 lines of its log ----"
    tail -n 40 "$log"
    if [[ -n "$input" ]]; then
        echo "---- $name: the failing input is kept at: $input"
        echo "     replay: $t $input"
    fi
done
printf '%-26s %14s\n' total "$total"

if [[ ${#failed[@]} -ne 0 ]]; then
    echo "fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${secs}s without a crash, leak or timeout"
