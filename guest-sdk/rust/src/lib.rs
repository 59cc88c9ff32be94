//! The Rust SDK for Postern plugins: sandboxed WebAssembly modules that
//! decide who a client is, whether it may log in now, which upstream serves
//! it and how an HTTP request is rewritten. It speaks the plugin ABI
//! (`abi/ABI.md`) with the standard library only, and builds with Debian's
//! `rustc` and `libstd-rust-dev-wasm32`:
//!
//! ```text
//! rustc --edition 2021 --crate-type rlib --target wasm32-wasi -O \
//!     --crate-name postern guest-sdk/rust/src/lib.rs -o libpostern.rlib
//! rustc --edition 2021 --crate-type cdylib --target wasm32-wasi -O \
//!     --extern postern=libpostern.rlib plugin.rs -o plugin.wasm
//! ```
//!
//! (or `cargo build --offline --release --target wasm32-wasi` with
//! `crate-type = ["cdylib"]`). A plugin is a `cdylib`: it has no `main`
//! and exports no `_start`. The [`plugin!`] macro exports
//! `postern_abi_version`, `_initialize` and the hooks and events the plugin
//! names:
//!
//! ```ignore
//! use postern::{field, Verdict};
//!
//! fn login() -> Verdict {
//!     match postern::get_string(field::LOGIN) {
//!         Ok(l) if l.ends_with("@old.example") => postern::refuse("migrated"),
//!         _ => Verdict::Continue,
//!     }
//! }
//!
//! postern::plugin! { login => login }
//! ```
//!
//! Built for anything but wasm32, the host functions reach the fake host of
//! [`testing`], so plugin logic is unit tested with `rustc --test` (or
//! `cargo test`) natively.
//!
//! Every host error comes back as an [`Error`] holding the ABI's code
//! ([`Error::NOT_FOUND`], ...). A panic in a hook is a trap in the guest:
//! the host counts it, discards the instance and applies the plugin's
//! failure policy.

#![warn(missing_docs)]

mod abi;
mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

pub use abi::{field, limits, phase, ABI_VERSION};

use std::fmt;

/// A host function's error: the ABI's negative code (ABI.md "Errors").
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error(pub i32);

impl Error {
    /// -1: the field number is unknown to this host (a newer field).
    pub const UNKNOWN_FIELD: Error = Error(-1);
    /// -2: the field exists but not in this phase or protocol.
    pub const NOT_AVAILABLE: Error = Error(-2);
    /// -3: the field cannot be written in this phase.
    pub const READ_ONLY: Error = Error(-3);
    /// -4: a bad argument.
    pub const INVALID: Error = Error(-4);
    /// -5: no such key (kv, header, cookie, IMAP ID parameter).
    pub const NOT_FOUND: Error = Error(-5);
    /// -6: the key-value store or HTTP destination cannot be reached.
    pub const UNAVAILABLE: Error = Error(-6);
    /// -7: a value over its limit.
    pub const TOO_LARGE: Error = Error(-7);
    /// -8: the HTTP destination is not in the plugin's allowlist.
    pub const DENIED: Error = Error(-8);
    /// -9: kv_add found the key present.
    pub const EXISTS: Error = Error(-9);
    /// -10: the HTTP call or store operation ran out of time.
    pub const TIMEOUT: Error = Error(-10);

    /// The error's name as ABI.md writes it.
    pub fn name(self) -> &'static str {
        match self.0 {
            -1 => "ErrUnknownField",
            -2 => "ErrNotAvailable",
            -3 => "ErrReadOnly",
            -4 => "ErrInvalid",
            -5 => "ErrNotFound",
            -6 => "ErrUnavailable",
            -7 => "ErrTooLarge",
            -8 => "ErrDenied",
            -9 => "ErrExists",
            -10 => "ErrTimeout",
            _ => "ErrUnknown",
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postern: {} ({})", self.name(), self.0)
    }
}

impl std::error::Error for Error {}

/// The SDK's result type.
pub type Result<T> = std::result::Result<T, Error>;

fn status(r: i32) -> Result<()> {
    if r < 0 {
        Err(Error(r))
    } else {
        Ok(())
    }
}

/// What a hook returns (ABI.md "Verdicts").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Verdict {
    /// No opinion, or a partial change: the next plugin runs.
    Continue = 0,
    /// Decided: no later plugin of this hook runs.
    Done = 1,
    /// Refuse the login or request with `message`.
    Refuse = 2,
    /// A temporary failure: the client sees a temporary error.
    TempFail = 3,
    /// Call this hook again after `delay_ms`.
    Retry = 4,
}

impl Verdict {
    /// The verdict for an i32 a hook returned, if it is one.
    pub fn from_code(v: i32) -> Option<Verdict> {
        match v {
            0 => Some(Verdict::Continue),
            1 => Some(Verdict::Done),
            2 => Some(Verdict::Refuse),
            3 => Some(Verdict::TempFail),
            4 => Some(Verdict::Retry),
            _ => None,
        }
    }
}

/// Sets `message` to msg (cut to fit, line breaks replaced by spaces) and
/// returns [`Verdict::Refuse`].
pub fn refuse(msg: &str) -> Verdict {
    let _ = set_message(msg);
    Verdict::Refuse
}

/// Sets `message` to msg when it is not empty and returns
/// [`Verdict::TempFail`].
pub fn tempfail(msg: &str) -> Verdict {
    if !msg.is_empty() {
        let _ = set_message(msg);
    }
    Verdict::TempFail
}

/// Sets `delay_ms` and returns [`Verdict::Retry`]: the host calls the hook
/// again after the delay, at most [`limits::MAX_RETRIES`] times.
pub fn retry(delay_ms: u32) -> Verdict {
    let _ = set_delay_ms(delay_ms);
    Verdict::Retry
}

/// Log levels for [`log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    /// Debug.
    Debug = 0,
    /// Info.
    Info = 1,
    /// Warn.
    Warn = 2,
    /// Error.
    Error = 3,
}

/// Writes one line to the host's log, attributed to the plugin. The host
/// cuts it to [`limits::MAX_LOG_BYTES`] and rate-limits lines. Never log
/// a password or token.
pub fn log(level: Level, msg: &str) {
    log_raw(level as i32, msg.as_bytes())
}

/// [`log`] with any level number (unknown levels log at error).
pub fn log_raw(level: i32, msg: &[u8]) {
    sys::log(level, msg)
}

/// Logs at info.
pub fn info(msg: &str) {
    log(Level::Info, msg)
}

/// Logs at warn.
pub fn warn(msg: &str) {
    log(Level::Warn, msg)
}

/// Reports whether the host implements a feature (`abi-1.1`, `abi-1.2`,
/// `http-call`, `kv-shared`, ...).
pub fn feature(name: &str) -> bool {
    sys::feature(name.as_bytes()) == 1
}

/// The plugin's configuration: the JSON bytes the operator wrote, empty
/// when none.
pub fn config() -> Vec<u8> {
    read(|buf| sys::config_get(buf)).unwrap_or_default()
}

/// The host clock (Unix time in nanoseconds).
pub fn clock_now() -> i64 {
    sys::clock_now()
}

/// Adds delta (>= 0) to the plugin's counter `name` (`[a-z_][a-z0-9_]*`),
/// exported on the host's /metrics. Bad names and negative deltas are
/// ignored by the host.
pub fn counter_add(name: &str, delta: i64) {
    sys::counter_add(name.as_bytes(), delta)
}

/// read calls a `buf, limit -> len` host function with a buffer that grows
/// until the value fits (the value can change between calls).
fn read(mut call: impl FnMut(&mut [u8]) -> i32) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        let n = call(&mut buf);
        if n < 0 {
            return Err(Error(n));
        }
        let n = n as u32 as usize;
        if n <= buf.len() {
            buf.truncate(n);
            return Ok(buf);
        }
        buf.resize(n, 0);
    }
}

fn lossy(b: Vec<u8>) -> String {
    match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Reads a plain field (a [`field`] constant).
pub fn get(f: i32) -> Result<Vec<u8>> {
    read(|buf| sys::field_get(f, buf))
}

/// Reads a plain field as a string (invalid UTF-8 replaced).
pub fn get_string(f: i32) -> Result<String> {
    get(f).map(lossy)
}

/// Writes a plain field. The host checks the value's encoding (ABI.md
/// "Fields"): numbers in decimal, lists NUL-separated, no line break in
/// `message`.
pub fn set(f: i32, v: impl AsRef<[u8]>) -> Result<()> {
    status(sys::field_set(f, v.as_ref()))
}

/// Reads a list field (`upstreams`, `http_headers`): the items between NULs.
pub fn get_list(f: i32) -> Result<Vec<String>> {
    let v = get_string(f)?;
    if v.is_empty() {
        return Ok(Vec::new());
    }
    Ok(v.split('\0').map(String::from).collect())
}

/// Writes a list field: the items joined by NUL (no item may be empty).
pub fn set_list<S: AsRef<str>>(f: i32, items: &[S]) -> Result<()> {
    let mut v = Vec::new();
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            v.push(0);
        }
        v.extend_from_slice(it.as_ref().as_bytes());
    }
    set(f, v)
}

/// Reads one key of a keyed field: an HTTP header (any case; several
/// values joined with ", "), a cookie, an IMAP ID parameter.
pub fn get_key(f: i32, key: &str) -> Result<Vec<u8>> {
    read(|buf| sys::field_get_key(f, key.as_bytes(), buf))
}

/// [`get_key`] as a string.
pub fn get_key_string(f: i32, key: &str) -> Result<String> {
    get_key(f, key).map(lossy)
}

/// Sets one key of a keyed field (replacing every value of a header).
pub fn set_key(f: i32, key: &str, v: impl AsRef<[u8]>) -> Result<()> {
    status(sys::field_set_key(f, key.as_bytes(), v.as_ref()))
}

/// Deletes one key of a keyed field.
pub fn delete_key(f: i32, key: &str) -> Result<()> {
    status(sys::field_delete_key(f, key.as_bytes()))
}

/// The login as the client gave it (or as a login plugin rewrote it).
pub fn login() -> String {
    get_string(field::LOGIN).unwrap_or_default()
}

/// The account: the login unless a plugin set it.
pub fn account() -> String {
    get_string(field::ACCOUNT).unwrap_or_default()
}

/// The session's protocol: "imap", "pop3" or "http".
pub fn protocol() -> String {
    get_string(field::PROTOCOL).unwrap_or_default()
}

/// The client's address ("192.0.2.7", "2001:db8::1").
pub fn client_ip() -> String {
    get_string(field::CLIENT_IP).unwrap_or_default()
}

/// Sets the account (login and route hooks).
pub fn set_account(v: &str) -> Result<()> {
    set(field::ACCOUNT, v)
}

/// Sets `message`, the text the client sees on a refusal, cut to
/// [`limits::MAX_FIELD_BYTES`] on a character boundary, with line breaks
/// replaced by spaces (a message is one protocol line).
pub fn set_message(msg: &str) -> Result<()> {
    let mut end = msg.len().min(limits::MAX_FIELD_BYTES);
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    let clean: String = msg[..end].chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect();
    set(field::MESSAGE, clean)
}

/// Sets the upstreams ("host:port" each), tried in order (route hook).
pub fn set_upstreams<S: AsRef<str>>(upstreams: &[S]) -> Result<()> {
    set_list(field::UPSTREAMS, upstreams)
}

/// Sets `delay_ms`: the host waits that long before acting on the outcome.
pub fn set_delay_ms(ms: u32) -> Result<()> {
    set(field::DELAY_MS, ms.to_string())
}

/// Declares, from init, that the host may reuse this plugin's outcome of
/// the login, throttle and route hooks for up to `ms` milliseconds for a
/// later HTTP request with the same reuse key (the same listener, TLS
/// server name, client address, Host, matched web route and credentials),
/// without calling the plugin (ABI 1.2, `reuse_ms`, ABI.md "Decision
/// reuse"). The host reuses only when every plugin serving those hooks (or
/// the route_decided event) declared a reuse, for the shortest time.
///
/// Declare it only when the plugin decides the same for such requests
/// whatever else differs (path, method, query, other headers), and when
/// the store data it reads may be that old. At most
/// [`limits::MAX_REUSE_MS`] ([`Error::INVALID`] above, nothing changed);
/// 0 declares none. A host before 1.2 returns [`Error::UNKNOWN_FIELD`]:
/// ignore it, not reusing is always correct. Outside init it is
/// [`Error::NOT_AVAILABLE`].
pub fn reuse_decisions(ms: u32) -> Result<()> {
    set(field::REUSE_MS, ms.to_string())
}

/// Reads a value from the key-value store.
pub fn kv_get(key: &str) -> Result<Vec<u8>> {
    read(|buf| sys::kv_get(key.as_bytes(), buf))
}

/// Stores a value; ttl_seconds 0 never expires, negative is
/// [`Error::INVALID`].
pub fn kv_set(key: &str, val: impl AsRef<[u8]>, ttl_seconds: i32) -> Result<()> {
    status(sys::kv_set(key.as_bytes(), val.as_ref(), ttl_seconds))
}

/// Stores a value only if the key is absent ([`Error::EXISTS`] otherwise).
pub fn kv_add(key: &str, val: impl AsRef<[u8]>, ttl_seconds: i32) -> Result<()> {
    status(sys::kv_add(key.as_bytes(), val.as_ref(), ttl_seconds))
}

/// Adds delta (>= 0) to a decimal counter and returns the new value
/// ([`Error::NOT_FOUND`] when absent: create it with [`kv_add`]).
pub fn kv_incr(key: &str, delta: i64) -> Result<i64> {
    let r = sys::kv_incr(key.as_bytes(), delta);
    if r < 0 {
        Err(Error(r as i32))
    } else {
        Ok(r)
    }
}

/// Deletes a key ([`Error::NOT_FOUND`] when it was absent).
pub fn kv_delete(key: &str) -> Result<()> {
    status(sys::kv_delete(key.as_bytes()))
}

/// The operation of one [`KvOp`] of a [`kv_batch`] (ABI.md "kv_batch").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvOpKind(pub u8);

/// One operation of a [`kv_batch`]: fill `op`, `key` and the inputs its
/// kind needs (`value` and `ttl_seconds` for set and add, `delta` for incr
/// and decr); [`kv_batch`] sets `result`: the value of a get, the new count
/// of an incr or decr (in `n`), or the error.
#[derive(Clone, Debug)]
pub struct KvOp {
    pub op: KvOpKind,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub ttl_seconds: i32,
    pub delta: u64,
    pub n: i64,
    pub result: Result<()>,
}

impl KvOp {
    /// The operation codes.
    pub const GET: KvOpKind = KvOpKind(1);
    pub const SET: KvOpKind = KvOpKind(2);
    pub const ADD: KvOpKind = KvOpKind(3);
    pub const INCR: KvOpKind = KvOpKind(4);
    pub const DECR: KvOpKind = KvOpKind(5);
    pub const DELETE: KvOpKind = KvOpKind(6);

    /// A get of key.
    pub fn get(key: &str) -> KvOp {
        KvOp::new(KvOp::GET, key)
    }
    /// An incr (or, with [`KvOp::DECR`], a decr) of key by delta.
    pub fn count(op: KvOpKind, key: &str, delta: u64) -> KvOp {
        let mut o = KvOp::new(op, key);
        o.delta = delta;
        o
    }
    /// A set (or, with [`KvOp::ADD`], an add) of key.
    pub fn store(op: KvOpKind, key: &str, value: impl AsRef<[u8]>, ttl_seconds: i32) -> KvOp {
        let mut o = KvOp::new(op, key);
        o.value = value.as_ref().to_vec();
        o.ttl_seconds = ttl_seconds;
        o
    }
    /// A delete of key.
    pub fn delete(key: &str) -> KvOp {
        KvOp::new(KvOp::DELETE, key)
    }
    fn new(op: KvOpKind, key: &str) -> KvOp {
        KvOp { op, key: key.as_bytes().to_vec(), value: Vec::new(), ttl_seconds: 0, delta: 0, n: 0, result: Ok(()) }
    }
}

/// The most operations one [`kv_batch`] may carry.
pub const MAX_KV_BATCH: usize = 16;

/// Runs up to [`MAX_KV_BATCH`] store operations in one host call; with
/// memcached they cost one round trip (ABI 1.1, "kv_batch"). Each
/// operation gets its own result; the call fails, and runs nothing, only
/// for a batch that is empty, too long, or malformed.
pub fn kv_batch(ops: &mut [KvOp]) -> Result<()> {
    if ops.is_empty() || ops.len() > MAX_KV_BATCH {
        return Err(Error::INVALID);
    }
    let mut req = Vec::new();
    for o in ops.iter() {
        if o.key.is_empty() || o.key.len() > limits::MAX_KEY_BYTES {
            return Err(Error::INVALID);
        }
        req.push(o.op.0);
        req.push(o.key.len() as u8);
        req.extend_from_slice(&o.key);
        match o.op {
            KvOp::INCR | KvOp::DECR => req.extend_from_slice(&o.delta.to_le_bytes()),
            KvOp::SET | KvOp::ADD => {
                req.extend_from_slice(&o.ttl_seconds.to_le_bytes());
                req.extend_from_slice(&(o.value.len() as u32).to_le_bytes());
                req.extend_from_slice(&o.value);
            }
            _ => {}
        }
    }
    let mut buf = vec![0u8; 8 * ops.len() + 4096];
    let n = sys::kv_batch(&req, &mut buf);
    if n < 0 {
        return Err(Error(n));
    }
    let got = (n as usize).min(buf.len());
    let mut off = 8 * ops.len();
    for (i, o) in ops.iter_mut().enumerate() {
        let mut r = [0u8; 8];
        r.copy_from_slice(&buf[8 * i..8 * i + 8]);
        let r = i64::from_le_bytes(r);
        if r < 0 {
            o.result = Err(Error(r as i32));
            continue;
        }
        o.result = Ok(());
        match o.op {
            KvOp::GET => {
                let len = r as usize;
                if off <= got && len <= got - off {
                    o.value = buf[off..off + len].to_vec();
                    off += len;
                } else {
                    off = usize::MAX / 2; // every later value is cut too: read it again
                    match kv_get(std::str::from_utf8(&o.key).unwrap_or("")) {
                        Ok(v) => o.value = v,
                        Err(e) => o.result = Err(e),
                    }
                }
            }
            KvOp::INCR | KvOp::DECR => o.n = r,
            _ => {}
        }
    }
    Ok(())
}

/// A decoded kv_batch request operation (the native fake host's view).
pub(crate) struct ParsedKvOp {
    pub op: KvOpKind,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub ttl_seconds: i32,
    pub delta: u64,
}

/// Parses a kv_batch request as the host does; None when it is malformed.
#[allow(dead_code)]
pub(crate) fn kv_batch_parse(mut req: &[u8]) -> Option<Vec<ParsedKvOp>> {
    let mut ops = Vec::new();
    if req.is_empty() {
        return None;
    }
    while !req.is_empty() {
        if ops.len() == MAX_KV_BATCH || req.len() < 2 {
            return None;
        }
        let (op, k) = (KvOpKind(req[0]), req[1] as usize);
        req = &req[2..];
        if k == 0 || k > limits::MAX_KEY_BYTES || req.len() < k {
            return None;
        }
        let mut p = ParsedKvOp { op, key: req[..k].to_vec(), value: Vec::new(), ttl_seconds: 0, delta: 0 };
        req = &req[k..];
        match op {
            KvOp::GET | KvOp::DELETE => {}
            KvOp::INCR | KvOp::DECR => {
                if req.len() < 8 {
                    return None;
                }
                let mut d = [0u8; 8];
                d.copy_from_slice(&req[..8]);
                p.delta = u64::from_le_bytes(d);
                req = &req[8..];
            }
            KvOp::SET | KvOp::ADD => {
                if req.len() < 8 {
                    return None;
                }
                let mut t = [0u8; 4];
                t.copy_from_slice(&req[..4]);
                p.ttl_seconds = i32::from_le_bytes(t);
                t.copy_from_slice(&req[4..8]);
                let n = u32::from_le_bytes(t) as usize;
                req = &req[8..];
                if p.ttl_seconds < 0 || req.len() < n {
                    return None;
                }
                p.value = req[..n].to_vec();
                req = &req[n..];
            }
            _ => return None,
        }
        ops.push(p);
    }
    Some(ops)
}

/// An outbound HTTP request for [`http_call`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method token ("GET").
    pub method: String,
    /// An absolute http:// or https:// URL in the plugin's allowlist.
    pub url: String,
    /// Request headers; the host sets Host, Content-Length and connection
    /// headers itself.
    pub headers: Vec<(String, String)>,
    /// The body (at most [`limits::MAX_HTTP_BODY`] bytes).
    pub body: Vec<u8>,
    /// The most the call may take; 0 means the plugin's limit.
    pub timeout_ms: i32,
}

impl HttpRequest {
    /// A GET of url.
    pub fn get(url: &str) -> HttpRequest {
        HttpRequest { method: "GET".into(), url: url.into(), ..Default::default() }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> HttpRequest {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn header_block(&self) -> Vec<u8> {
        let mut b = Vec::new();
        for (k, v) in &self.headers {
            b.extend_from_slice(k.as_bytes());
            b.extend_from_slice(b": ");
            b.extend_from_slice(v.as_bytes());
            b.extend_from_slice(b"\r\n");
        }
        b
    }
}

/// The response of [`http_call`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status (100..599); redirects are not followed.
    pub status: u16,
    /// The response headers in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header, matched without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Parses `Name: value\r\n` lines.
pub(crate) fn parse_headers(b: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(b);
    text.split("\r\n")
        .filter_map(|line| {
            let i = line.find(':')?;
            Some((line[..i].to_string(), line[i + 1..].trim_start().to_string()))
        })
        .collect()
}

/// Performs one outbound HTTP request (ABI.md "http_call") and reads the
/// whole response. Treat [`Error::UNAVAILABLE`] and [`Error::TIMEOUT`] as
/// a dependency being down.
pub fn http_call(req: &HttpRequest) -> Result<HttpResponse> {
    let st = sys::http_call(req.method.as_bytes(), req.url.as_bytes(), &req.header_block(), &req.body, req.timeout_ms);
    if st < 0 {
        return Err(Error(st));
    }
    let headers = read(|buf| sys::http_response_get(0, buf))?;
    let body = read(|buf| sys::http_response_get(1, buf))?;
    Ok(HttpResponse { status: st as u16, headers: parse_headers(&headers), body })
}

/// What a plugin's init function returns: `Err(reason)` refuses the load
/// with reason as the message the operator sees.
pub type InitResult = std::result::Result<(), String>;

#[doc(hidden)]
pub fn __run_init(f: fn(&[u8]) -> InitResult) -> i32 {
    match f(&config()) {
        Ok(()) => 0,
        Err(msg) => {
            let _ = set_message(&msg);
            1
        }
    }
}

#[cfg(target_arch = "wasm32")]
extern "C" {
    fn __wasm_call_ctors();
}

/// The WASI reactor initialiser [`plugin!`] exports as `_initialize`:
/// it runs the static constructors once. Calling `__wasm_call_ctors`
/// explicitly also tells the linker this is a reactor, so it does not wrap
/// every export in constructor and destructor calls.
#[doc(hidden)]
pub fn __initialize() {
    #[cfg(target_arch = "wasm32")]
    unsafe {
        __wasm_call_ctors()
    }
}

/// Exports the plugin: `postern_abi_version`, `_initialize` (wasm32) and
/// one export per entry. Entries are `init => f` with
/// `f: fn(&[u8]) -> InitResult` (the configuration), the hooks `login`,
/// `throttle`, `route`, `rewrite`, `response` (ABI 1.1, HTTP) with `f: fn() -> Verdict`, and the
/// events `route_decided`, `login_failed` with `f: fn()`.
///
/// ```ignore
/// postern::plugin! {
///     init => init,
///     route => route,
///     login_failed => forget_route,
/// }
/// ```
#[macro_export]
macro_rules! plugin {
    ($($kind:ident => $f:path),* $(,)?) => {
        /// The ABI version this plugin was built for.
        #[no_mangle]
        pub extern "C" fn postern_abi_version() -> i32 {
            $crate::ABI_VERSION
        }
        /// The WASI reactor initialiser.
        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn _initialize() {
            $crate::__initialize()
        }
        $( $crate::__export!($kind, $f); )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export {
    (init, $f:path) => {
        /// Runs the plugin's init.
        #[no_mangle]
        pub extern "C" fn postern_init() -> i32 {
            $crate::__run_init($f)
        }
    };
    (login, $f:path) => {
        /// The login hook.
        #[no_mangle]
        pub extern "C" fn postern_hook_login() -> i32 {
            let f: fn() -> $crate::Verdict = $f;
            f() as i32
        }
    };
    (throttle, $f:path) => {
        /// The throttle hook.
        #[no_mangle]
        pub extern "C" fn postern_hook_throttle() -> i32 {
            let f: fn() -> $crate::Verdict = $f;
            f() as i32
        }
    };
    (route, $f:path) => {
        /// The route hook.
        #[no_mangle]
        pub extern "C" fn postern_hook_route() -> i32 {
            let f: fn() -> $crate::Verdict = $f;
            f() as i32
        }
    };
    (rewrite, $f:path) => {
        /// The rewrite hook.
        #[no_mangle]
        pub extern "C" fn postern_hook_rewrite() -> i32 {
            let f: fn() -> $crate::Verdict = $f;
            f() as i32
        }
    };
    (response, $f:path) => {
        /// The response hook (ABI 1.1, HTTP).
        #[no_mangle]
        pub extern "C" fn postern_hook_response() -> i32 {
            let f: fn() -> $crate::Verdict = $f;
            f() as i32
        }
    };
    (route_decided, $f:path) => {
        /// The route_decided event.
        #[no_mangle]
        pub extern "C" fn postern_event_route_decided() {
            let f: fn() = $f;
            f()
        }
    };
    (login_failed, $f:path) => {
        /// The login_failed event.
        #[no_mangle]
        pub extern "C" fn postern_event_login_failed() {
            let f: fn() = $f;
            f()
        }
    };
}
