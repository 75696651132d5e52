# What the benchmark scripts share; sourced, not run. After `bench_setup`: `$bin` is the
# release command, `$work` a temporary directory removed on exit (with the emulator, resumed
# first if it was stopped).

bench_setup() {
  cd "$(dirname "$0")/../.."
  cargo build --release --quiet -p authing-otp-cli
  local target_dir
  target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
  bin="$target_dir/release/authing-otp"
  work="$(mktemp -d)"
  emulator_pid=""
  trap bench_cleanup EXIT
}

bench_cleanup() {
  if [ -n "$emulator_pid" ]; then
    kill -CONT "$emulator_pid" 2>/dev/null || true
    kill "$emulator_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}

# generate_records N FILE: one JSON Lines record per user `user-I`, each with its own
# 16-character base32 secret (the file also seeds the emulator's users: `--seed-users-from`
# reads `userId` and ignores the rest).
generate_records() {
  awk -v n="$1" 'BEGIN {
    a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    for (i = 0; i < n; i++) {
      x = i; s = "";
      for (k = 0; k < 16; k++) { s = s substr(a, (x % 32) + 1, 1); x = int(x / 32) + k + 7; }
      printf "{\"userId\":\"user-%d\",\"secret\":\"%s\"}\n", i, s;
    }
  }' >"$2"
}

# start_emulator LIMIT SEED: the emulator limited to LIMIT requests per second, its users
# from SEED, in the background (`$emulator_pid`); exports the AUTHING_* settings it prints
# (AUTHING_ACCESS_KEY_SECRET as set before, or the development one) and sets `$url`.
start_emulator() {
  "$bin" emulator --rate-limit "$1" --max-list 1000 --seed-users-from "$2" \
    >"$work/emulator.out" 2>"$work/emulator.err" &
  emulator_pid=$!
  url=""
  for _ in $(seq 1 600); do
    url="$(sed -n 's/^listening on //p' "$work/emulator.out" | head -n 1)"
    [ -n "$url" ] && grep -q '^export ' "$work/emulator.out" && break
    sleep 0.1
  done
  [ -n "$url" ] || { echo "the emulator did not start" >&2; cat "$work/emulator.err" >&2; exit 1; }
  eval "$(grep '^export ' "$work/emulator.out")"
}
