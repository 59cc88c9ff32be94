package plugintest

import (
	"testing"

	"github.com/postern/postern/host/internal/guestbuild"
)

// RustPlugin builds the Rust plugin whose crate root is src (relative to
// the calling test's module root, or absolute) with the Rust SDK
// (guest-sdk/rust) and returns the .wasm's path. Builds are cached under
// build/rust/ by the content of the source, the SDK and the compiler, so
// a test run builds each once. It skips the test, with the install hint,
// when no rustc with the wasm32-wasi standard library is installed
// (Debian: rustc libstd-rust-dev-wasm32), and fails it on CI.
func RustPlugin(tb testing.TB, src string) string { return guestbuild.RustPlugin(tb, src) }

// RustTest builds the Rust crate root src natively as a test binary
// (rustc --test) linked with the SDK's fake host (guest-sdk/rust's
// testing module) and returns its path; run it to run the crate's
// #[test] functions. src may be the SDK's own lib.rs.
func RustTest(tb testing.TB, src string) string { return guestbuild.RustTest(tb, src) }
