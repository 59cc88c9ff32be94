#!/bin/sh
# Rebuilds every conformance fixture: testdata/<name>.wasm from <name>.wat,
# and refreshes the copies of abi/testdata fixtures in testdata/abi/.
# Needs wabt's wat2wasm (Debian: apt-get install wabt).
set -eu
cd "$(dirname "$0")"
for wat in *.wat; do
	wasm="${wat%.wat}.wasm"
	echo "wat2wasm $wat -o $wasm"
	wat2wasm "$wat" -o "$wasm"
done
# The suite embeds its fixtures, so it reuses abi/testdata's as copies;
# TestFixtures_abiCopies fails when a copy differs from its original.
mkdir -p abi
for wasm in ../../abi/testdata/*.wasm; do
	cp "$wasm" abi/
done
