#!/usr/bin/env bash
# Export benchmark: USERS users (default 100,000), each with an OTP secret, read back by
# `authing-otp export` from `authing-otp emulator`, two processes on loopback, the emulator
# capped at LIMIT requests per second (default 300, Authing's free-plan cap) and the client
# asked for RPS (default: none, so that it finds the pool's pace itself).
#
#   cli/scripts/export_bench.sh [USERS] [LIMIT] [RPS]
#
# The users' secrets are imported first (by the import command, batches of 1,000, not timed),
# then exported with a journal; the output is compared with what was imported. Prints the
# export's JSON summary, then wall time, users per second, requests per second against the
# limit and the 429s. Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
. "$(dirname "$0")/bench_lib.sh"

users="${1:-100000}"
limit="${2:-300}"
rps="${3:-}"

bench_setup
generate_records "$users" "$work/secrets.jsonl"
sed 's/^{"userId":"\([^"]*\)".*/\1/' "$work/secrets.jsonl" >"$work/users.txt"

export AUTHING_ACCESS_KEY_SECRET="bench-secret"
unset AUTHING_ACCESS_KEY_ID AUTHING_HOST AUTHING_RPS AUTHING_MAX_ATTEMPTS
start_emulator "$limit" "$work/secrets.jsonl"

"$bin" import "$work/secrets.jsonl" --batch-size 1000 -q >/dev/null
echo "imported $users users' secrets; exporting them" >&2

rps_flag=()
[ -n "$rps" ] && rps_flag=(--rps "$rps")
"$bin" export "$work/users.txt" --output "$work/backup.jsonl" --journal "$work/export.journal" \
  "${rps_flag[@]}" --json -q >"$work/summary.json" || true
cat "$work/summary.json"
python3 - "$work/summary.json" "$limit" "$work/secrets.jsonl" "$work/backup.jsonl" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); limit = float(sys.argv[2])
imported = {}
for line in open(sys.argv[3]):
    r = json.loads(line); imported[r["userId"]] = r["secret"]
exported = {}
for line in open(sys.argv[4]):
    r = json.loads(line)
    assert r["userId"] not in exported, f"{r['userId']} twice"
    exported[r["userId"]] = r["secret"]
assert exported == imported, "the output differs from what was imported"
rate = s["requests"] / s["elapsedSeconds"]
print(f"users          {s['users']:,} ({s['exported']:,} exported, {s['withoutOtp']} without OTP), output = what was imported")
print(f"wall time      {s['elapsedSeconds']:.1f} s ({s['exported'] / s['elapsedSeconds']:,.0f} users/s)")
print(f"requests/s     {rate:.1f} against a limit of {limit:.0f} ({100 * rate / limit:.1f}%), "
      f"{s['throttled']} throttled, {s['retries']} retries")
PY
