#!/usr/bin/env bash
# Build llama.cpp's `llama-server` (CPU only) from the llama-cpp-python sdist and
# cache the binary outside the repo. Prints the binary path on the last line.
#
#   tests/tools/build_llama_server.sh            # build if missing, print path
#   LLAMA_CPP_PYTHON_VERSION=0.3.36 JOBS=2 ...   # overrides
#
# Cache: ${BRIEFCUT_TEST_CACHE:-~/.cache/briefcut-test}/llama/<version>/llama-server
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
JOBS="${JOBS:-2}"
CACHE_ROOT="${BRIEFCUT_TEST_CACHE:-$HOME/.cache/briefcut-test}"
DEST="$CACHE_ROOT/llama/$VERSION"
BIN="$DEST/llama-server"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-$HERE/../../.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"

log() { echo "[build_llama_server] $*" >&2; }

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$DEST"
exec 9>"$DEST/.lock"
log "waiting for build lock $DEST/.lock"
flock 9
if [ -x "$BIN" ]; then   # another process finished while we waited
  echo "$BIN"
  exit 0
fi

for tool in cmake c++ cc; do
  command -v "$tool" >/dev/null || { log "missing build tool: $tool"; exit 2; }
done

WORK="$DEST/work"
rm -rf "$WORK"
mkdir -p "$WORK"
log "downloading llama-cpp-python==$VERSION sdist"
"$PY" -m pip download --quiet --no-deps --no-binary :all: \
  "llama-cpp-python==$VERSION" -d "$WORK" >&2
SDIST="$(ls "$WORK"/llama_cpp_python-*.tar.gz | head -1)"
log "extracting $SDIST"
tar -xzf "$SDIST" -C "$WORK"
SRC="$(ls -d "$WORK"/llama_cpp_python-*/vendor/llama.cpp | head -1)"
[ -f "$SRC/CMakeLists.txt" ] || { log "no llama.cpp sources in sdist"; exit 2; }

GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
log "configuring ($SRC)"
cmake -S "$SRC" -B "$WORK/build" "${GEN[@]}" \
  -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=OFF \
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON >&2
log "building llama-server with -j$JOBS (several minutes on 2 cores)"
cmake --build "$WORK/build" --target llama-server -j"$JOBS" >&2
OUT="$(find "$WORK/build" -type f -name llama-server -perm -u+x | head -1)"
[ -n "$OUT" ] || { log "build produced no llama-server binary"; exit 2; }
cp "$OUT" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
"$BIN" --version >&2 || true
rm -rf "$WORK"
log "cached $BIN"
echo "$BIN"
