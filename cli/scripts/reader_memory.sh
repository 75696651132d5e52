#!/usr/bin/env bash
# Peak memory and time of the import-file reader on hostile input: a 200 MB line in each format,
# a 100 MB quoted CSV field, 500 MB of blank lines in each format, 655 MB of deeply nested JSON
# lines and 328 MB of Key URI lines just under the limit. Each case runs in its own process
# (peak RSS is per process) and generates its input as it is read, so the figures are the
# reader's own. See cli/examples/reader_memory.rs; Linux only (VmHWM of /proc/self/status).
#
#   cli/scripts/reader_memory.sh [CASE...]
#
# Not a test: the figures depend on the machine. The goal is a flat peak RSS (a few MiB) and a
# time linear in the input's size.
set -euo pipefail
cd "$(dirname "$0")/../.."

cases=("$@")
if [ "${#cases[@]}" -eq 0 ]; then
  cases=(jsonl-line csv-line csv-quoted keyuri-line jsonl-blank csv-blank keyuri-blank
         jsonl-nested keyuri-long journal-line journal-entry journal-blank command-blank)
fi

cargo build --release --quiet -p authing-otp-cli --example reader_memory --bin authing-otp
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="$target_dir/release/examples/reader_memory"

for case in "${cases[@]}"; do
  if [ "$case" = command-blank ]; then
    # The whole command on a real 500 MB file of blank lines and one record (--dry-run): the
    # check pass, the duplicate check and the identification together.
    work="$(mktemp -d)"
    head -c 500000000 /dev/zero | tr '\0' '\n' >"$work/blank.jsonl"
    echo '{"userId":"u1","secret":"JBSWY3DPEHPK3PXP"}' >>"$work/blank.jsonl"
    python3 - "$target_dir/release/authing-otp" "$work/blank.jsonl" <<'PY'
import os, resource, subprocess, sys, time
start = time.monotonic()
out = subprocess.run([sys.argv[1], "import", sys.argv[2], "--dry-run"], capture_output=True, text=True)
elapsed = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"command-blank   500 MB in {elapsed:6.2f} s  peak RSS {peak:7.1f} MiB  exit {out.returncode}: {out.stdout.strip()}")
PY
    rm -rf "$work"
    continue
  fi
  "$bin" "$case"
done
