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
cd "$(dirname "$0")/../.."

records="${1:-1000000}"
limit="${2:-300}"
rps="${3:-295}"

cargo build --release --quiet -p authing-otp-cli
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="$target_dir/release/authing-otp"

work="$(mktemp -d)"
emulator_pid=""
cleanup() {
  [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# One record per user, each with its own 16-character base32 secret. The import file also
# seeds the emulator's users (`--seed-users-from` reads `userId` and ignores the rest).
awk -v n="$records" 'BEGIN {
  a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  for (i = 0; i < n; i++) {
    x = i; s = "";
    for (k = 0; k < 16; k++) { s = s substr(a, (x % 32) + 1, 1); x = int(x / 32) + k + 7; }
    printf "{\"userId\":\"user-%d\",\"secret\":\"%s\"}\n", i, s;
  }
}' >"$work/secrets.jsonl"
echo "generated $records records ($(du -h "$work/secrets.jsonl" | cut -f1))" >&2

export AUTHING_ACCESS_KEY_SECRET="bench-secret"
unset AUTHING_ACCESS_KEY_ID AUTHING_HOST AUTHING_RPS AUTHING_MAX_ATTEMPTS
"$bin" emulator --rate-limit "$limit" --max-list 1000 --seed-users-from "$work/secrets.jsonl" \
  >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
for _ in $(seq 1 600); do
  url="$(sed -n 's/^listening on //p' "$work/emulator.out" | head -n 1)"
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "the emulator did not start" >&2; cat "$work/emulator.err" >&2; exit 1; }

AUTHING_ACCESS_KEY_ID="$(sed -n 's/^access key id: //p' "$work/emulator.out" | head -n 1)" \
  "$bin" import "$work/secrets.jsonl" --host "$url" --rps "$rps" --batch-size 100 \
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
