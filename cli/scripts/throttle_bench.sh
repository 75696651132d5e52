#!/usr/bin/env bash
# A migration on a pool that throttles: RECORDS records (default 100,000) imported by
# `authing-otp import` into `authing-otp emulator --rate-limit LIMIT` (default 100 requests per
# second), two processes on loopback, in batches of 100 with 4 requests in flight:
#
#   1. asking for 3x the limit (--rps 3*LIMIT);
#   2. with no --rps at all;
#   3. as 1., with the emulator stopped (kill -STOP) for OUTAGE seconds (default 20) from the
#      3rd second on, then resumed (kill -CONT).
#
#   cli/scripts/throttle_bench.sh [RECORDS] [LIMIT] [OUTAGE]
#
# For each run: wall time, the rate of requests the emulator accepted as a share of its limit,
# the share of requests answered 429, and for the outage run the wall time it added beyond
# the outage itself. Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

records="${1:-100000}"
limit="${2:-100}"
outage="${3:-20}"

cargo build --release --quiet -p authing-otp-cli
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="$target_dir/release/authing-otp"

work="$(mktemp -d)"
emulator_pid=""
cleanup() {
  if [ -n "$emulator_pid" ]; then
    kill -CONT "$emulator_pid" 2>/dev/null || true
    kill "$emulator_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

awk -v n="$records" 'BEGIN {
  a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  for (i = 0; i < n; i++) {
    x = i; s = "";
    for (k = 0; k < 16; k++) { s = s substr(a, (x % 32) + 1, 1); x = int(x / 32) + k + 7; }
    printf "{\"userId\":\"user-%d\",\"secret\":\"%s\"}\n", i, s;
  }
}' >"$work/secrets.jsonl"
echo "generated $records records; emulator limited to $limit requests per second" >&2

unset AUTHING_HOST AUTHING_RPS AUTHING_MAX_ATTEMPTS AUTHING_ACCESS_KEY_ID AUTHING_ACCESS_KEY_SECRET

# run NAME OUTAGE [import flags…]: one import against a fresh emulator.
run() {
  local name="$1" pause="$2"
  shift 2
  "$bin" emulator --rate-limit "$limit" --max-list 1000 --seed-users-from "$work/secrets.jsonl" \
    >"$work/emulator.out" 2>"$work/emulator.err" &
  emulator_pid=$!
  local url=""
  for _ in $(seq 1 600); do
    url="$(sed -n 's/^listening on //p' "$work/emulator.out" | head -n 1)"
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { echo "the emulator did not start" >&2; cat "$work/emulator.err" >&2; exit 1; }
  # The settings the emulator prints to paste.
  eval "$(grep '^export ' "$work/emulator.out")"
  local outage_pid=""
  if [ "$pause" -gt 0 ]; then
    ( sleep 3; kill -STOP "$emulator_pid"; sleep "$pause"; kill -CONT "$emulator_pid" ) &
    outage_pid=$!
  fi
  "$bin" import "$work/secrets.jsonl" --batch-size 100 --concurrency 4 --json -q "$@" \
    >"$work/$name.json" 2>"$work/$name.err" || { cat "$work/$name.err" >&2; exit 1; }
  [ -z "$outage_pid" ] || wait "$outage_pid"
  kill "$emulator_pid"
  wait "$emulator_pid" 2>/dev/null || true
  emulator_pid=""
  unset AUTHING_HOST AUTHING_ACCESS_KEY_ID AUTHING_ACCESS_KEY_SECRET
}

run ceiling 0 --rps "$((3 * limit))"
run adaptive 0
run outage "$outage" --rps "$((3 * limit))"

python3 - "$work" "$limit" "$outage" <<'PY'
import json, sys
work, limit, outage = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
def load(name):
    s = json.load(open(f"{work}/{name}.json"))
    assert s["imported"] == s["records"], f"{name}: not every record was imported: {s}"
    return s
rows = [("--rps %d" % (3 * limit), load("ceiling")), ("no --rps", load("adaptive")),
        ("--rps %d, %d s outage" % (3 * limit, outage), load("outage"))]
print(f"{'run':<28} {'wall':>8} {'accepted/s':>11} {'of limit':>9} {'429s':>7} {'of requests':>12} {'unavailable':>12}")
for name, s in rows:
    i = s["import"]
    accepted = i["requests"] - i["throttled"] - i["unavailable"]
    rate = accepted / i["elapsedSeconds"]
    print(f"{name:<28} {i['elapsedSeconds']:>7.1f}s {rate:>11.1f} {100 * rate / limit:>8.1f}% "
          f"{i['throttled']:>7} {100 * i['throttled'] / i['requests']:>11.1f}% {i['unavailable']:>12}")
extra = rows[2][1]["import"]["elapsedSeconds"] - rows[0][1]["import"]["elapsedSeconds"] - outage
print(f"the {outage:.0f} s outage added {outage + extra:.1f} s of wall time: {extra:.1f} s beyond the outage itself")
PY
