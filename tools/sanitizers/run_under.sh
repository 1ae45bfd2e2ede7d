#!/usr/bin/env bash
# --run_under wrapper for every test under --config=asan (set in .bazelrc).
#
# Sanitizer reports of the test process AND of every instrumented process it starts (daemons and
# test workers from its data deps inherit the environment) go to files under
# $TEST_UNDECLARED_OUTPUTS_DIR/sanitizer/ (ASan/LSan/UBSan log_path; one file per process, named
# report.<pid>). After the test exits, any such file fails the test, even if the test itself
# passed (a child's report is otherwise easy to miss: the test may only see the daemon exit, or
# kill it), and every report is copied into the test log.
set -u

out="${TEST_UNDECLARED_OUTPUTS_DIR:-${TEST_TMPDIR:-/tmp}}/sanitizer"
mkdir -p "$out"
rm -f "$out"/report.*

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
supp=""
for cand in "$here/lsan.supp" "$here/run_under.runfiles/libgonka/tools/sanitizers/lsan.supp" \
            "${TEST_SRCDIR:-/nonexistent}/libgonka/tools/sanitizers/lsan.supp"; do
  if [ -f "$cand" ]; then supp="$cand"; break; fi
done

# Caller's settings (e.g. --test_env=ASAN_OPTIONS=...) come first; log_path is always ours.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$out/report"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$out/report"
if [ -n "$supp" ]; then
  export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$supp"
fi

"$@"
rc=$?

shopt -s nullglob
reports=("$out"/report.*)
if [ ${#reports[@]} -gt 0 ]; then
  for r in "${reports[@]}"; do
    echo "==================== sanitizer report: ${r#"$out"/} ====================" >&2
    cat "$r" >&2
  done
  echo "run_under: ${#reports[@]} sanitizer report(s) (test exit status $rc); failing the test" >&2
  [ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
