#!/usr/bin/env bash
# nib against a real OpenAI-compatible server: llama-cpp-python's (`python -m llama_cpp.server`,
# from PyPI), serving the default model on loopback. The package builds llama.cpp from source
# (about 11 minutes on 2 cores), so it is installed once into a cached venv. Starts the server,
# waits for /v1/models, runs the ignored end-to-end test of tests/provider, stops the server.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=0.3.36
VENV="${NIB_LLAMA_SERVER_VENV:-$HOME/.cache/nib/llama-server-venv}"
NIB_BIN="${NIB_BIN:-${CARGO_TARGET_DIR:-target}/release/nib}"
MODEL="$("$NIB_BIN" model path)"
ALIAS=qwen2.5-coder-0.5b-instruct

if ! "$VENV/bin/python" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$VERSION')" 2>/dev/null; then
    start=$(date +%s)
    python3 -m venv "$VENV"
    # CPU only, and no CPU-specific code: a native build picks up instructions (AMX, AVX-512)
    # that a virtual machine may advertise without supporting (the server then crashes in
    # llama_decode).
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_BLAS=OFF" \
        "$VENV/bin/pip" install --no-cache-dir "llama-cpp-python[server]==$VERSION"
    echo "tests/remote: llama-cpp-python installed in $(( $(date +%s) - start )) s"
fi

PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG="$(mktemp -t nib-llama-server.XXXXXX.log)"
"$VENV/bin/python" -m llama_cpp.server --model "$MODEL" --model_alias "$ALIAS" \
    --host 127.0.0.1 --port "$PORT" --n_ctx 4096 >"$LOG" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
    if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/v1/models', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$SERVER" 2>/dev/null; then
        echo "tests/remote: the server exited:" >&2
        tail -20 "$LOG" >&2
        exit 1
    fi
    sleep 0.5
done
start=$(date +%s)
NIB_REMOTE_E2E_URL="http://127.0.0.1:$PORT/v1" NIB_REMOTE_E2E_MODEL="$ALIAS" \
    cargo test --release -p nib --test provider -- --ignored --exact e2e_a_real_openai_compatible_server
echo "tests/remote: end-to-end test in $(( $(date +%s) - start )) s"
