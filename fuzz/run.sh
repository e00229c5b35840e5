#!/usr/bin/env bash
# Run every fuzz target for SECONDS (default 60) each, on the stable toolchain: libFuzzer's
# coverage instrumentation needs no nightly flag, only the sanitizer does (`--sanitizer none`).
# New inputs go to fuzz/corpus/<target> (not committed); fuzz/seeds/<target> is read too.
# A crash stops the script with libFuzzer's report and the input in fuzz/artifacts/<target>.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
targets=(text transport settings custom postprocess)
cargo fuzz build --sanitizer none
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    echo "fuzz: $t for ${seconds}s"
    log="$(mktemp)"
    if ! cargo fuzz run --sanitizer none "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=2048 >"$log" 2>&1; then
        tail -60 "$log" >&2
        echo "fuzz: $t failed; the input is in fuzz/artifacts/$t" >&2
        exit 1
    fi
    grep -E '^Done [0-9]+ runs' "$log" || tail -3 "$log"
    rm -f "$log"
done
