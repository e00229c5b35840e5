#!/usr/bin/env bash
# The nib VS Code extension in a real VS Code: code-server 4.100.3 (VS Code 1.100.3) driven by
# playwright-core and Debian's chromium (test/e2e.mjs says what is checked).
#
#   editors/vscode/test/run.sh            NIB_BIN=/path/to/nib (default: nib on PATH)
#
# Installs what is missing (apt: chromium, ripgrep, build tools and libkrb5-dev for code-server's
# native modules; npm: the extension's dependencies, code-server and playwright-core into
# test/.tools), packages the extension as a .vsix, installs it into a fresh code-server profile,
# and runs the test against a temporary copy of test/fixture. Screenshots, nib's log and
# code-server's log go to test/artifacts. KEEP=1 keeps the temporary directory.
# Needs nib's model pulled (`nib model pull qwen2.5-coder-0.5b`).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
EXT=$(dirname "$HERE")
TOOLS=$HERE/.tools
ARTIFACTS=$HERE/artifacts
CODE_SERVER_VERSION=4.100.3
PLAYWRIGHT_VERSION=1.52.0
# The ripgrep download that code-server's @vscode/ripgrep 1.15.11 (pinned by code-server's
# shrinkwrap) asks for; it is served from a cache made of Debian's rg instead.
RIPGREP_PKG_VERSION=1.15.11
RIPGREP_ASSET=ripgrep-v13.0.0-10-$(uname -m | sed 's/^x86_64$/x86_64/; s/^aarch64$/aarch64/')-unknown-linux-musl.tar.gz

say() { echo "[run.sh] $*"; }
fail() {
  echo "[run.sh] $*" >&2
  SUMMARY="0 passed, 1 failed"
  exit 1
}
t_start=$(date +%s)
WORK=
CS_PID=
cleanup() {
  local status=$?
  if [ -n "$CS_PID" ]; then
    kill -- -"$CS_PID" 2>/dev/null || kill "$CS_PID" 2>/dev/null || true
    wait "$CS_PID" 2>/dev/null || true
  fi
  if [ -n "$WORK" ]; then
    cp "$WORK/nib.log" "$ARTIFACTS/nib.log" 2>/dev/null || true
    cp "$WORK/code-server.log" "$ARTIFACTS/code-server.log" 2>/dev/null || true
    if [ "${KEEP:-}" = 1 ]; then say "kept $WORK" >&2; else rm -rf "$WORK"; fi
  fi
  # The summary stays the last line.
  if [ -n "${SUMMARY:-}" ]; then
    echo "$SUMMARY"
  elif [ "$status" != 0 ]; then
    echo "0 passed, 1 failed"
  fi
}
trap cleanup EXIT

# 1. System packages.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v rg >/dev/null || missing+=(ripgrep)
command -v make >/dev/null || missing+=(make)
command -v g++ >/dev/null || missing+=(g++)
command -v python3 >/dev/null || missing+=(python3)
command -v pkg-config >/dev/null || missing+=(pkg-config)
[ -e /usr/include/gssapi/gssapi.h ] || missing+=(libkrb5-dev)
command -v node >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 20 ] || fail "code-server $CODE_SERVER_VERSION needs Node 20, found $(node --version)"

# 2. The extension, packaged.
cd "$EXT"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci (extension)"
  npm ci --no-audit --no-fund >/dev/null
fi
npm run --silent package >/dev/null || fail "npm run package failed"
[ -f "$EXT/nib.vsix" ] || fail "no nib.vsix"

# 3. code-server and playwright-core.
CODE_SERVER=$TOOLS/node_modules/.bin/code-server
if [ ! -x "$CODE_SERVER" ] || [ ! -e "$TOOLS/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg" ] \
  || [ ! -e "$TOOLS/node_modules/playwright-core/package.json" ]; then
  say "npm install code-server@$CODE_SERVER_VERSION playwright-core@$PLAYWRIGHT_VERSION (a few minutes)"
  mkdir -p "$TOOLS/tmp/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION"
  [ -f "$TOOLS/package.json" ] || echo '{ "private": true }' >"$TOOLS/package.json"
  rgdir=$(mktemp -d)
  cp "$(command -v rg)" "$rgdir/rg"
  tar czf "$TOOLS/tmp/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION/$RIPGREP_ASSET" -C "$rgdir" rg
  rm -rf "$rgdir"
  # npm >= 11.x blocks dependency install scripts unless allowed; code-server's postinstall
  # (which installs VS Code's own dependencies, native modules included) must run.
  (cd "$TOOLS" && TMPDIR=$TOOLS/tmp npm_config_dangerously_allow_all_scripts=true npm_config_yes=true \
    npm install --unsafe-perm --no-audit --no-fund "code-server@$CODE_SERVER_VERSION" "playwright-core@$PLAYWRIGHT_VERSION" \
    >"$TOOLS/install.log" 2>&1) || fail "installing code-server failed; see $TOOLS/install.log"
fi
t_ready=$(date +%s)

# 4. nib and its model.
NIB=$(command -v "${NIB_BIN:-nib}") || fail "no nib binary: set NIB_BIN or put nib on PATH (cargo install --path crates/nib)"
MODEL=$("$NIB" model path 2>/dev/null) && [ -f "$MODEL" ] || fail "nib has no model: run $NIB model pull qwen2.5-coder-0.5b"

# 5. A fresh profile, workspace and code-server.
WORK=$(mktemp -d /tmp/nib-vscode-test.XXXXXX)
rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS" "$WORK/workspace" "$WORK/user/User" "$WORK/extensions" "$WORK/browser" "$WORK/home" "$WORK/nib-home"
cp "$HERE"/fixture/* "$WORK/workspace/"
cat >"$WORK/user/User/settings.json" <<JSON
{
  "security.workspace.trust.enabled": false,
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "telemetry.telemetryLevel": "off",
  "extensions.ignoreRecommendations": true,
  "update.mode": "none",
  "files.autoSave": "off",
  "editor.inlineSuggest.enabled": true,
  "editor.quickSuggestions": { "other": "off", "comments": "off", "strings": "off" },
  "editor.suggestOnTriggerCharacters": false,
  "editor.wordBasedSuggestions": "off",
  "nib.path": "$NIB",
  "nib.model": "$MODEL",
  "nib.telemetry": "full",
  "nib.logFile": "$WORK/nib.log",
  "nib.deadlineMs": 0,
  "nib.coldDeadlineMs": 0
}
JSON
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\n' "$PORT" >"$WORK/config.yaml"
CS_ARGS=(--config "$WORK/config.yaml" --user-data-dir "$WORK/user" --extensions-dir "$WORK/extensions")
"$CODE_SERVER" "${CS_ARGS[@]}" --install-extension "$EXT/nib.vsix" >"$WORK/install-extension.log" 2>&1 \
  || { cat "$WORK/install-extension.log"; fail "code-server could not install nib.vsix"; }
say "code-server on 127.0.0.1:$PORT"
# NIB_HOME: nib (started by the extension) records this test's events in a data directory of
# its own; the model is given by its path above.
NIB_HOME="$WORK/nib-home" setsid "$CODE_SERVER" "${CS_ARGS[@]}" --auth none --bind-addr "127.0.0.1:$PORT" \
  --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  "$WORK/workspace" >"$WORK/code-server.log" 2>&1 &
CS_PID=$!
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$CS_PID" 2>/dev/null || { cat "$WORK/code-server.log"; fail "code-server exited"; }
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null || fail "code-server did not answer on port $PORT"

# 6. The browser test.
set +e
URL="http://127.0.0.1:$PORT/?folder=$WORK/workspace" WORKSPACE=$WORK/workspace NIB_LOG=$WORK/nib.log \
  NIB=$NIB NIB_HOME=$WORK/nib-home \
  ARTIFACTS=$ARTIFACTS TOOLS=$TOOLS BROWSER_PROFILE=$WORK/browser CHROMIUM=$(command -v chromium) \
  node "$HERE/e2e.mjs" 2>&1 | tee "$WORK/e2e.out"
rc=${PIPESTATUS[0]}
set -e
t_end=$(date +%s)
say "setup $((t_ready - t_start)) s, test $((t_end - t_ready)) s; artifacts in $ARTIFACTS"
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/e2e.out" | tail -1 || true)
if [ -z "$summary" ]; then
  summary="0 passed, 1 failed"
  rc=1
elif [ "$rc" != 0 ] && [ "${summary#*, }" = "0 failed" ]; then
  summary="${summary%%, *}, 1 failed"
fi

# 7. nib stats and nib export on the events the test recorded.
extra_failed=0
stats=$(NIB_HOME="$WORK/nib-home" "$NIB" stats --json 2>&1 || true)
if python3 -c 'import json, sys; t = json.load(sys.stdin)["total"]; sys.exit(not (t["accepted"] >= 1 and t["rejected"] >= 2 and t["shown"] >= t["accepted"] + t["rejected"]))' <<<"$stats" 2>/dev/null; then
  say "ok   nib stats --json counts the test's acceptance and rejections"
else
  say "FAIL nib stats --json does not count the test's acceptance and rejections: $stats"
  extra_failed=$((extra_failed + 1))
fi
if NIB_HOME="$WORK/nib-home" "$NIB" export --format fim -o "$ARTIFACTS/export.jsonl" &&
  grep -q '"kind":"fim"' "$ARTIFACTS/export.jsonl"; then
  say "ok   nib export --format fim writes the accepted suggestion"
else
  say "FAIL nib export --format fim wrote no example"
  extra_failed=$((extra_failed + 1))
fi
if [ "$extra_failed" -gt 0 ]; then
  passed=${summary%% passed*}
  failed=${summary##*, }
  summary="$passed passed, $((${failed%% failed} + extra_failed)) failed"
  rc=1
fi
SUMMARY=$summary
exit $rc
