//! An example Postern plugin written with the Rust SDK: it lower-cases the
//! login (login hook) and refuses a client address after `limit` logins in
//! `window` seconds (throttle hook), counting in the shared key-value
//! store the way the ABI's worked example does (kv_incr, then kv_add).
//!
//! Configuration (JSON): `{"limit": 10, "window": 60}`; both optional.
//!
//! Build and test (guest-sdk/rust/README.md):
//!
//! ```text
//! rustc --edition 2021 --crate-type cdylib --target wasm32-wasi -O \
//!     --extern postern=libpostern.rlib guest-sdk/rust/example/plugin.rs -o example.wasm
//! rustc --edition 2021 --test --extern postern=libpostern_native.rlib \
//!     guest-sdk/rust/example/plugin.rs -o example-test && ./example-test
//! ```

use postern::{field, Error, Verdict};
use std::sync::atomic::{AtomicI64, Ordering};

static LIMIT: AtomicI64 = AtomicI64::new(10);
static WINDOW: AtomicI64 = AtomicI64::new(60);

/// number reads `"key": <digits>` from a flat JSON object (enough for
/// this configuration; the SDK has no JSON parser, std has none).
fn number(cfg: &str, key: &str) -> Result<Option<i64>, String> {
    let pat = format!("\"{}\"", key);
    let at = match cfg.find(&pat) {
        Some(i) => i + pat.len(),
        None => return Ok(None),
    };
    let rest = cfg[at..].trim_start();
    let rest = rest.strip_prefix(':').ok_or_else(|| format!("{}: expected ':'", key))?.trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    match digits.parse::<i64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(format!("{} must be a positive whole number", key)),
    }
}

fn init(cfg: &[u8]) -> postern::InitResult {
    let cfg = String::from_utf8_lossy(cfg);
    if let Some(n) = number(&cfg, "limit")? {
        LIMIT.store(n, Ordering::Relaxed);
    }
    if let Some(n) = number(&cfg, "window")? {
        WINDOW.store(n, Ordering::Relaxed);
    }
    Ok(())
}

fn login() -> Verdict {
    let l = postern::login();
    let lower = l.to_ascii_lowercase();
    if lower != l {
        if let Err(e) = postern::set(field::LOGIN, &lower) {
            postern::warn(&format!("cannot rewrite the login: {}", e));
        }
    }
    Verdict::Continue
}

/// count adds one to key's counter and returns it; None when the store
/// cannot be used (fail open).
fn count(key: &str, window: i32) -> Option<i64> {
    match postern::kv_incr(key, 1) {
        Ok(n) => return Some(n),
        Err(e) if e != Error::NOT_FOUND => return None,
        Err(_) => {}
    }
    match postern::kv_add(key, "1", window) {
        Ok(()) => Some(1),
        Err(e) if e == Error::EXISTS => postern::kv_incr(key, 1).ok(),
        Err(_) => None,
    }
}

fn throttle() -> Verdict {
    let key = format!("rust-example:ip={}", postern::client_ip());
    match count(&key, WINDOW.load(Ordering::Relaxed) as i32) {
        Some(n) if n > LIMIT.load(Ordering::Relaxed) => {
            postern::counter_add("refused", 1);
            postern::refuse("too many logins, try later")
        }
        _ => Verdict::Continue,
    }
}

postern::plugin! {
    init => init,
    login => login,
    throttle => throttle,
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern::{phase, testing::Host};

    #[test]
    fn lowercases_the_login() {
        let h = Host::new();
        h.set_field(field::LOGIN, "Bob@Example.COM");
        assert_eq!(h.call_hook(phase::LOGIN, login), Verdict::Continue);
        assert_eq!(h.field(field::LOGIN), "bob@example.com");
    }

    #[test]
    fn refuses_after_the_limit_until_the_window_ends() {
        let h = Host::new();
        h.set_field(field::CLIENT_IP, "192.0.2.7");
        assert_eq!(h.init(init), Ok(()));
        h.set_config(r#"{"limit": 2, "window": 30}"#);
        assert_eq!(h.init(init), Ok(()));
        assert_eq!(h.call_hook(phase::THROTTLE, throttle), Verdict::Continue);
        assert_eq!(h.call_hook(phase::THROTTLE, throttle), Verdict::Continue);
        assert_eq!(h.call_hook(phase::THROTTLE, throttle), Verdict::Refuse);
        assert_eq!(h.field(field::MESSAGE), "too many logins, try later");
        assert_eq!(h.counter("refused"), 1);
        assert_eq!(h.kv("rust-example:ip=192.0.2.7").as_deref(), Some(&b"3"[..]));
        h.advance_secs(31);
        assert_eq!(h.call_hook(phase::THROTTLE, throttle), Verdict::Continue);
    }

    #[test]
    fn allows_when_the_store_is_down() {
        let h = Host::new();
        h.set_kv_down(true);
        assert_eq!(h.call_hook(phase::THROTTLE, throttle), Verdict::Continue);
    }

    #[test]
    fn refuses_a_bad_configuration() {
        let h = Host::new();
        h.set_config(r#"{"limit": "ten"}"#);
        assert_eq!(h.init(init), Err("limit must be a positive whole number".to_string()));
    }
}
