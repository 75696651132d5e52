#!/usr/bin/env bash
# Bulk-import benchmark: RECORDS records (default 1,000,000) imported by `authing-otp import`
# into `authing-otp emulator`, two processes on loopback, the emulator capped at LIMIT requests
# per second (default 300, Authing's free-plan cap) and the client asked for RPS (default 295),
# in batches of 100 with 8 requests in flight (CONCURRENCY=N to change).
#
#   cli/scripts/bulk_bench.sh [RECORDS] [LIMIT] [RPS]
#
# Prints the import's own JSON summary, then: wall time, requests per second achieved against
# the limit, client CPU per record, and the client's peak resident memory. Everything runs on
# 127.0.0.1 and stops by itself.
set -euo pipefail
. "$(dirname "$0")/bench_lib.sh"

records="${1:-1000000}"
limit="${2:-300}"
rps="${3:-295}"

bench_setup
generate_records "$records" "$work/secrets.jsonl"
echo "generated $records records ($(du -h "$work/secrets.jsonl" | cut -f1))" >&2

export AUTHING_ACCESS_KEY_SECRET="bench-secret"
unset AUTHING_ACCESS_KEY_ID AUTHING_HOST AUTHING_RPS AUTHING_MAX_ATTEMPTS
start_emulator "$limit" "$work/secrets.jsonl"

"$bin" import "$work/secrets.jsonl" --rps "$rps" --batch-size 100 \
  --concurrency "${CONCURRENCY:-8}" --journal "$work/journal.jsonl" --json -q >"$work/summary.json"
cat "$work/summary.json"
python3 - "$work/summary.json" "$limit" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); limit = float(sys.argv[2])
rate = s["requests"] / s["elapsedSeconds"]
assert s["imported"] == s["records"], "not every record was imported"
print(f"records        {s['records']:,} ({s['imported']:,} imported, {s['refused']} refused)")
print(f"wall time      {s['elapsedSeconds']:.1f} s ({s['recordsPerSecond']:,.0f} records/s)")
print(f"requests/s     {rate:.1f} against a limit of {limit:.0f} ({100 * rate / limit:.1f}%), "
      f"{s['throttled']} throttled, {s['retries']} retries")
if s.get("cpuSeconds") is not None:
    print(f"client CPU     {1e6 * s['cpuSeconds'] / s['records']:.1f} µs per record "
          f"({s['cpuSeconds']:.1f} s, the checking pass included)")
if s.get("peakRssBytes") is not None:
    print(f"client memory  {s['peakRssBytes'] / 2**20:.1f} MiB peak resident")
PY
