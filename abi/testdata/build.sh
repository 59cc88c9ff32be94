#!/bin/sh
# Rebuilds every ABI test fixture: abi/testdata/<name>.wasm from <name>.wat.
# Needs wabt's wat2wasm (Debian/Ubuntu: apt-get install wabt).
set -eu
cd "$(dirname "$0")"
for wat in *.wat; do
	wasm="${wat%.wat}.wasm"
	echo "wat2wasm $wat -o $wasm"
	wat2wasm "$wat" -o "$wasm"
done
