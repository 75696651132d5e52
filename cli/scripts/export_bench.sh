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
cd "$(dirname "$0")/../.."

users="${1:-100000}"
limit="${2:-300}"
rps="${3:-}"

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

awk -v n="$users" 'BEGIN {
  a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  for (i = 0; i < n; i++) {
    x = i; s = "";
    for (k = 0; k < 16; k++) { s = s substr(a, (x % 32) + 1, 1); x = int(x / 32) + k + 7; }
    printf "{\"userId\":\"user-%d\",\"secret\":\"%s\"}\n", i, s;
    printf "user-%d\n", i > "/dev/stderr";
  }
}' >"$work/secrets.jsonl" 2>"$work/users.txt"

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
export AUTHING_ACCESS_KEY_ID="$(sed -n 's/^access key id: //p' "$work/emulator.out" | head -n 1)"
export AUTHING_HOST="$url"

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
