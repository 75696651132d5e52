#!/usr/bin/env bash
# How long a crate that depends on authing-otp takes to build from clean, the way a user meets
# it: the client packaged (`cargo package`, what crates.io would serve), a new binary crate
# depending on it with default features, an empty target directory each time, the registry
# already downloaded (the lock file is the workspace's, so the versions are the ones tested).
#
#   benches/dependent_build.sh [RUNS] [JOBS]     # default 3 runs, cargo's default jobs
#
# Prints each run's wall time, then min/median/max; TIMINGS=1 also writes cargo's --timings
# report of the last run (its path is printed) to see the critical path. Run it on a quiet
# machine: the figure is the machine's, not the crate's alone.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-3}"
jobs="${2:-}"
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
rm -f "$target_dir/package/authing-otp-$version.crate"
cargo package -p authing-otp --allow-dirty --no-verify --quiet
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -xzf "$target_dir/package/authing-otp-$version.crate" -C "$work"
client_dir="$(cd "$work"/authing-otp-[0-9]* && pwd)"
mkdir -p "$work/dependent/src"
cat >"$work/dependent/Cargo.toml" <<TOML
[package]
name = "dependent"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
authing-otp = { path = "$client_dir" }
tokio = { version = "1", features = ["macros", "rt"] }
TOML
cp Cargo.lock "$work/dependent/Cargo.lock"
cat >"$work/dependent/src/main.rs" <<'RUST'
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let client = authing_otp::ManagementClient::builder()
        .access_key("ak", "sk")
        .build()
        .expect("a client");
    println!("{}", client.host());
}
RUST
# Everything the build needs, downloaded before the clock starts.
cargo fetch --quiet --manifest-path "$work/dependent/Cargo.toml"

times=()
for run in $(seq 1 "$runs"); do
  rm -rf "$work/target"
  extra=()
  [ -n "$jobs" ] && extra+=(--jobs "$jobs")
  [ "${TIMINGS:-}" = 1 ] && [ "$run" = "$runs" ] && extra+=(--timings)
  start=$(date +%s%N)
  CARGO_TARGET_DIR="$work/target" cargo build --quiet --offline \
    --manifest-path "$work/dependent/Cargo.toml" "${extra[@]}"
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  t="$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  times+=("$t")
  printf 'run %d: %.1f s\n' "$run" "$t"
done
if [ "${TIMINGS:-}" = 1 ]; then
  report="$(ls -t "$work"/target/cargo-timings/cargo-timing-*.html | head -n 1)"
  cp "$report" "${TMPDIR:-/tmp}/dependent-build-timings.html"
  echo "timings: ${TMPDIR:-/tmp}/dependent-build-timings.html"
fi
printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END {
  printf "clean build of a dependent (%d runs, %d cores): min %.1f s, median %.1f s, max %.1f s\n",
    NR, '"$(nproc)"', t[1], t[int((NR + 1) / 2)], t[NR] }'
