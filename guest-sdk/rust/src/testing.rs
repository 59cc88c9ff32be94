//! A fake Postern host for unit testing plugins natively (not wasm32),
//! with `rustc --test` or `cargo test`: the SDK's host functions read and
//! write an in-memory session, store, log and HTTP stub.
//!
//! ```ignore
//! #[test]
//! fn routes_bob() {
//!     let h = postern::testing::Host::new();
//!     h.set_field(postern::field::LOGIN, "bob@example.com");
//!     assert_eq!(h.call_hook(postern::phase::ROUTE, route), postern::Verdict::Done);
//!     assert_eq!(h.field(postern::field::UPSTREAMS), "10.0.0.2:143");
//! }
//! ```
//!
//! The fake applies the ABI's access table (generated from `abi/abi.go`)
//! and its main value rules, so reading the password in the throttle hook
//! or writing the login in the route hook fails here with the same
//! [`Error`](crate::Error) as in the real host. It cannot show wasm-only
//! behaviour (traps, memory and time limits, exports): load the built
//! `.wasm` in the real host for that (`host/plugintest` in Go).
//!
//! The host is per thread (Rust runs tests on several threads): a
//! [`Host`] installs it for the current thread and removes it when
//! dropped.

use crate::abi::{field, limits, phase, ACCESS, KEYED};
use crate::{Error, HttpRequest, HttpResponse, Level};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// One key-value entry; `expires` is a Unix time in nanoseconds, 0 never.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The value.
    pub value: Vec<u8>,
    /// Expiry (ns), 0 for none.
    pub expires: i64,
}

type HttpFn = Box<dyn FnMut(&HttpRequest) -> Result<HttpResponse, Error>>;

pub(crate) struct State {
    pub(crate) phase: i32,
    fields: HashMap<i32, Vec<u8>>,
    init_fields: HashMap<i32, Vec<u8>>,
    headers: Vec<(String, String)>,
    resp_headers: Vec<(String, String)>,
    cookies: BTreeMap<String, String>,
    imap_id: BTreeMap<String, String>,
    config: Vec<u8>,
    features: BTreeMap<String, bool>,
    kv: BTreeMap<Vec<u8>, Item>,
    kv_down: bool,
    pub(crate) now_ns: i64,
    http: Option<HttpFn>,
    http_requests: Vec<HttpRequest>,
    http_max_body: usize,
    resp: Option<(Vec<u8>, Vec<u8>)>,
    logs: Vec<(i32, String)>,
    counters: BTreeMap<String, i64>,
}

thread_local! {
    static HOST: RefCell<Option<State>> = RefCell::new(None);
}

/// with runs f on the current thread's fake host.
pub(crate) fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    HOST.with(|h| {
        let mut h = h.borrow_mut();
        let st = h.as_mut().expect("postern: no fake host on this thread: create a postern::testing::Host first");
        f(st)
    })
}

fn out(buf: &mut [u8], v: &[u8]) -> i32 {
    let n = v.len().min(buf.len());
    buf[..n].copy_from_slice(&v[..n]);
    v.len() as i32
}

fn is_http_field(f: i32) -> bool {
    matches!(
        f,
        field::HTTP_METHOD
            | field::HTTP_HOST
            | field::HTTP_PATH
            | field::HTTP_QUERY
            | field::HTTP_HEADER
            | field::HTTP_COOKIE
            | field::HTTP_HEADERS
            | field::REDIRECT_CODE
            | field::REDIRECT_URL
            | field::POOL
            | field::RESPONSE_STATUS
            | field::RESPONSE_HEADER
    )
}

fn is_bool(f: i32) -> bool {
    matches!(f, field::CACHE_ALIAS | field::ROUTE_CACHED | field::PASSWORD_VERIFIED | field::ONLY_LOGIN)
}

fn is_token(k: &[u8]) -> bool {
    !k.is_empty()
        && k.len() <= limits::MAX_KEY_NAME_BYTES
        && k.iter().all(|&c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

fn valid_host_port(s: &str) -> bool {
    let i = match s.rfind(':') {
        Some(i) => i,
        None => return false,
    };
    let (host, port) = (&s[..i], &s[i + 1..]);
    !host.is_empty()
        && !host.contains(|c: char| c.is_whitespace() || c.is_control() || c == '/')
        && matches!(port.parse::<u32>(), Ok(p) if (1..=65535).contains(&p))
}

fn valid_value(f: i32, v: &[u8]) -> bool {
    let s = match std::str::from_utf8(v) {
        Ok(s) => s,
        Err(_) => return !matches!(f, field::DELAY_MS | field::REUSE_MS | field::UPSTREAMS | field::REDIRECT_CODE),
    };
    match f {
        field::MESSAGE => !s.contains(|c| c == '\r' || c == '\n'),
        field::DELAY_MS => {
            s.bytes().all(|c| c.is_ascii_digit())
                && matches!(s.parse::<u64>(), Ok(ms) if ms as usize <= limits::MAX_DELAY_MS)
        }
        field::REUSE_MS => {
            !s.is_empty()
                && s.bytes().all(|c| c.is_ascii_digit())
                && matches!(s.parse::<u64>(), Ok(ms) if ms <= limits::MAX_REUSE_MS as u64)
        }
        field::UPSTREAMS => s.is_empty() || s.split('\0').all(valid_host_port),
        field::REDIRECT_CODE => matches!(s, "301" | "302" | "303" | "307" | "308"),
        field::REDIRECT_URL => !s.is_empty() && !s.contains(|c: char| c.is_control()),
        field::HTTP_HOST => !s.is_empty() && !s.contains(|c: char| c == '/' || c.is_whitespace() || c.is_control()),
        field::HTTP_PATH => s.starts_with('/') && !s.contains(|c: char| c == '?' || c.is_whitespace() || c.is_control()),
        f if is_bool(f) => matches!(s, "0" | "1" | "true" | "false"),
        _ => !s.contains(|c| c == '\r' || c == '\n'),
    }
}

impl State {
    fn access(&self, f: i32) -> u8 {
        ACCESS
            .iter()
            .find(|(p, _)| *p == self.phase)
            .and_then(|(_, t)| t.get((f - 1) as usize).copied())
            .unwrap_or(0)
    }

    fn proto(&self) -> &[u8] {
        self.fields.get(&field::PROTOCOL).map(|v| v.as_slice()).unwrap_or(b"")
    }

    /// check applies the access rules in ABI.md's order: unknown, not
    /// available (phase, protocol, kind), read-only.
    fn check(&self, f: i32, write: bool, keyed: bool) -> i32 {
        if f < 1 || f > field::MAX {
            return Error::UNKNOWN_FIELD.0;
        }
        let m = self.access(f);
        if (is_http_field(f) && self.proto() != b"http") || m == 0 || KEYED.contains(&f) != keyed {
            return Error::NOT_AVAILABLE.0;
        }
        if write && m != 2 {
            return Error::READ_ONLY.0;
        }
        0
    }

    fn cur(&mut self) -> &mut HashMap<i32, Vec<u8>> {
        if self.phase == phase::INIT {
            &mut self.init_fields
        } else {
            &mut self.fields
        }
    }

    pub(crate) fn feature(&self, name: &[u8]) -> i32 {
        let name = String::from_utf8_lossy(name);
        let on = match self.features.get(name.as_ref()) {
            Some(v) => *v,
            None => name == "http-call" && self.http.is_some(),
        };
        on as i32
    }

    pub(crate) fn log(&mut self, level: i32, msg: &[u8]) {
        let msg = &msg[..msg.len().min(limits::MAX_LOG_BYTES)];
        let level = if (0..=3).contains(&level) { level } else { 3 };
        self.logs.push((level, String::from_utf8_lossy(msg).into_owned()));
    }

    pub(crate) fn config_get(&self, buf: &mut [u8]) -> i32 {
        out(buf, &self.config)
    }

    fn header_names(&self) -> Vec<u8> {
        let mut names: Vec<String> = Vec::new();
        for (k, _) in &self.headers {
            let c = canonical(k);
            if !names.contains(&c) {
                names.push(c);
            }
        }
        names.sort();
        names.join("\0").into_bytes()
    }

    pub(crate) fn field_get(&mut self, f: i32, buf: &mut [u8]) -> i32 {
        let e = self.check(f, false, false);
        if e != 0 {
            return e;
        }
        let v = match self.cur().get(&f) {
            Some(v) if !(f == field::ACCOUNT && v.is_empty()) => v.clone(),
            _ if f == field::ACCOUNT => self.fields.get(&field::LOGIN).cloned().unwrap_or_default(),
            _ if f == field::HTTP_HEADERS => self.header_names(),
            _ if f == field::DELAY_MS || f == field::REUSE_MS || is_bool(f) => b"0".to_vec(),
            _ => Vec::new(),
        };
        out(buf, &v)
    }

    pub(crate) fn field_set(&mut self, f: i32, val: &[u8]) -> i32 {
        let e = self.check(f, true, false);
        if e != 0 {
            return e;
        }
        if val.len() > limits::MAX_FIELD_BYTES {
            return Error::TOO_LARGE.0;
        }
        if !valid_value(f, val) {
            return Error::INVALID.0;
        }
        let v = if is_bool(f) {
            if val == b"1" || val == b"true" {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            }
        } else if f == field::REUSE_MS {
            // The host keeps the number: "007" reads back "7".
            let ms: u64 = std::str::from_utf8(val).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
            ms.to_string().into_bytes()
        } else {
            val.to_vec()
        };
        self.cur().insert(f, v);
        0
    }

    fn keyed_check(&self, f: i32, key: &[u8], write: bool) -> i32 {
        let e = self.check(f, write, true);
        if e != 0 {
            return e;
        }
        if key.is_empty() || key.len() > limits::MAX_KEY_NAME_BYTES {
            return Error::INVALID.0;
        }
        if (f == field::HTTP_HEADER || f == field::RESPONSE_HEADER) && !is_token(key) {
            return Error::INVALID.0;
        }
        0
    }

    pub(crate) fn field_get_key(&mut self, f: i32, key: &[u8], buf: &mut [u8]) -> i32 {
        if f == field::IMAP_ID && self.proto() != b"imap" && self.check(f, false, true) == 0 {
            return Error::NOT_FOUND.0;
        }
        let e = self.keyed_check(f, key, false);
        if e != 0 {
            return e;
        }
        let k = String::from_utf8_lossy(key).into_owned();
        let v = match f {
            field::HTTP_HEADER | field::RESPONSE_HEADER => {
                let list = if f == field::HTTP_HEADER { &self.headers } else { &self.resp_headers };
                let vals: Vec<&str> =
                    list.iter().filter(|(n, _)| n.eq_ignore_ascii_case(&k)).map(|(_, v)| v.as_str()).collect();
                if vals.is_empty() {
                    None
                } else {
                    Some(vals.join(", "))
                }
            }
            field::HTTP_COOKIE => self.cookies.get(&k).cloned(),
            _ => self.imap_id.iter().find(|(n, _)| n.eq_ignore_ascii_case(&k)).map(|(_, v)| v.clone()),
        };
        match v {
            Some(v) => out(buf, v.as_bytes()),
            None => Error::NOT_FOUND.0,
        }
    }

    pub(crate) fn field_set_key(&mut self, f: i32, key: &[u8], val: &[u8]) -> i32 {
        let e = self.keyed_check(f, key, true);
        if e != 0 {
            return e;
        }
        if f != field::HTTP_HEADER && f != field::RESPONSE_HEADER {
            return Error::READ_ONLY.0;
        }
        if val.iter().any(|&c| c == b'\r' || c == b'\n' || c == 0) {
            return Error::INVALID.0;
        }
        let k = String::from_utf8_lossy(key).into_owned();
        let list = if f == field::HTTP_HEADER { &mut self.headers } else { &mut self.resp_headers };
        list.retain(|(n, _)| !n.eq_ignore_ascii_case(&k));
        list.push((canonical(&k), String::from_utf8_lossy(val).into_owned()));
        0
    }

    pub(crate) fn field_delete_key(&mut self, f: i32, key: &[u8]) -> i32 {
        let e = self.keyed_check(f, key, true);
        if e != 0 {
            return e;
        }
        if f != field::HTTP_HEADER && f != field::RESPONSE_HEADER {
            return Error::READ_ONLY.0;
        }
        let k = String::from_utf8_lossy(key).into_owned();
        let list = if f == field::HTTP_HEADER { &mut self.headers } else { &mut self.resp_headers };
        let before = list.len();
        list.retain(|(n, _)| !n.eq_ignore_ascii_case(&k));
        if list.len() == before {
            return Error::NOT_FOUND.0;
        }
        0
    }

    fn kv_check(&self, key: &[u8]) -> i32 {
        if key.is_empty() || key.len() > limits::MAX_KEY_BYTES || key.iter().any(|&c| c <= b' ' || c == 0x7f) {
            return Error::INVALID.0;
        }
        if self.kv_down {
            return Error::UNAVAILABLE.0;
        }
        0
    }

    fn kv_live(&mut self, key: &[u8]) -> Option<&mut Item> {
        let now = self.now_ns;
        if matches!(self.kv.get(key), Some(it) if it.expires != 0 && it.expires <= now) {
            self.kv.remove(key);
        }
        self.kv.get_mut(key)
    }

    pub(crate) fn kv_get(&mut self, key: &[u8], buf: &mut [u8]) -> i32 {
        let e = self.kv_check(key);
        if e != 0 {
            return e;
        }
        match self.kv_live(key) {
            Some(it) => {
                let v = it.value.clone();
                out(buf, &v)
            }
            None => Error::NOT_FOUND.0,
        }
    }

    pub(crate) fn kv_set(&mut self, key: &[u8], val: &[u8], ttl: i32, add: bool) -> i32 {
        let e = self.kv_check(key);
        if e != 0 {
            return e;
        }
        if ttl < 0 {
            return Error::INVALID.0;
        }
        if val.len() > limits::MAX_KV_VALUE_BYTES {
            return Error::TOO_LARGE.0;
        }
        if add && self.kv_live(key).is_some() {
            return Error::EXISTS.0;
        }
        let expires = if ttl == 0 { 0 } else { self.now_ns + ttl as i64 * 1_000_000_000 };
        self.kv.insert(key.to_vec(), Item { value: val.to_vec(), expires });
        0
    }

    pub(crate) fn kv_incr(&mut self, key: &[u8], delta: i64) -> i64 {
        let e = self.kv_check(key);
        if e != 0 {
            return e as i64;
        }
        if delta < 0 {
            return Error::INVALID.0 as i64;
        }
        let it = match self.kv_live(key) {
            Some(it) => it,
            None => return Error::NOT_FOUND.0 as i64,
        };
        let n = match std::str::from_utf8(&it.value).ok().and_then(|s| s.parse::<i64>().ok()) {
            Some(n) if n >= 0 => n,
            _ => return Error::INVALID.0 as i64,
        };
        let n = n.wrapping_add(delta);
        it.value = n.to_string().into_bytes();
        n
    }

    pub(crate) fn kv_delete(&mut self, key: &[u8]) -> i32 {
        let e = self.kv_check(key);
        if e != 0 {
            return e;
        }
        if self.kv_live(key).is_none() {
            return Error::NOT_FOUND.0;
        }
        self.kv.remove(key);
        0
    }

    /// kv_batch with the single-operation calls, as the host's in-process
    /// store does (ABI.md "kv_batch").
    pub(crate) fn kv_batch(&mut self, req: &[u8], buf: &mut [u8]) -> i32 {
        let ops = match crate::kv_batch_parse(req) {
            Some(ops) => ops,
            None => return Error::INVALID.0,
        };
        let mut results: Vec<u8> = Vec::new();
        let mut values: Vec<u8> = Vec::new();
        for op in &ops {
            let r: i64 = match op.op {
                crate::KvOp::GET => {
                    let e = self.kv_check(&op.key);
                    if e != 0 {
                        e as i64
                    } else if let Some(it) = self.kv_live(&op.key) {
                        values.extend_from_slice(&it.value);
                        it.value.len() as i64
                    } else {
                        Error::NOT_FOUND.0 as i64
                    }
                }
                crate::KvOp::SET => self.kv_set(&op.key, &op.value, op.ttl_seconds, false) as i64,
                crate::KvOp::ADD => self.kv_set(&op.key, &op.value, op.ttl_seconds, true) as i64,
                crate::KvOp::INCR => {
                    if op.delta > i64::MAX as u64 {
                        Error::INVALID.0 as i64
                    } else {
                        self.kv_incr(&op.key, op.delta as i64)
                    }
                }
                crate::KvOp::DECR => self.kv_decr(&op.key, op.delta),
                _ => self.kv_delete(&op.key) as i64,
            };
            results.extend_from_slice(&r.to_le_bytes());
        }
        results.extend_from_slice(&values);
        out(buf, &results)
    }

    fn kv_decr(&mut self, key: &[u8], delta: u64) -> i64 {
        let e = self.kv_check(key);
        if e != 0 {
            return e as i64;
        }
        if delta > i64::MAX as u64 {
            return Error::INVALID.0 as i64;
        }
        let it = match self.kv_live(key) {
            Some(it) => it,
            None => return Error::NOT_FOUND.0 as i64,
        };
        let n = match std::str::from_utf8(&it.value).ok().and_then(|s| s.parse::<i64>().ok()) {
            Some(n) if n >= 0 => n,
            _ => return Error::INVALID.0 as i64,
        };
        let n = if (n as u64) < delta { 0 } else { n - delta as i64 };
        it.value = n.to_string().into_bytes();
        n
    }

    pub(crate) fn http_response_get(&self, part: i32, buf: &mut [u8]) -> i32 {
        match (&self.resp, part) {
            (_, p) if p != 0 && p != 1 => Error::INVALID.0,
            (None, _) => Error::NOT_AVAILABLE.0,
            (Some((h, _)), 0) => out(buf, h),
            (Some((_, b)), _) => out(buf, b),
        }
    }

    pub(crate) fn counter_add(&mut self, name: &[u8], delta: i64) {
        let ok = !name.is_empty()
            && (name[0].is_ascii_lowercase() || name[0] == b'_')
            && name.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
        if ok && delta >= 0 {
            *self.counters.entry(String::from_utf8_lossy(name).into_owned()).or_insert(0) += delta;
        }
    }
}

/// http_call runs the test's stub outside the host's borrow, so the stub
/// may itself use the fake host.
pub(crate) fn http_call(method: &[u8], url: &[u8], headers: &[u8], body: &[u8], timeout_ms: i32) -> i32 {
    let _ = timeout_ms;
    let valid = is_token(method)
        && (url.starts_with(b"http://") || url.starts_with(b"https://"))
        && std::str::from_utf8(headers).is_ok();
    if !valid {
        with(|h| h.resp = None);
        return Error::INVALID.0;
    }
    if body.len() > limits::MAX_HTTP_BODY {
        with(|h| h.resp = None);
        return Error::TOO_LARGE.0;
    }
    let req = HttpRequest {
        method: String::from_utf8_lossy(method).into_owned(),
        url: String::from_utf8_lossy(url).into_owned(),
        headers: crate::parse_headers(headers),
        body: body.to_vec(),
        timeout_ms,
    };
    let stub = with(|h| {
        h.resp = None;
        h.http_requests.push(req.clone());
        h.http.take()
    });
    let mut stub = match stub {
        Some(s) => s,
        None => return Error::DENIED.0,
    };
    let r = stub(&req);
    with(|h| {
        h.http = Some(stub);
        match r {
            Err(e) => e.0,
            Ok(resp) if resp.body.len() > h.http_max_body => Error::TOO_LARGE.0,
            Ok(resp) => {
                let mut hb = Vec::new();
                for (k, v) in &resp.headers {
                    hb.extend_from_slice(format!("{}: {}\r\n", k, v).as_bytes());
                }
                h.resp = Some((hb, resp.body));
                resp.status as i32
            }
        }
    })
}

/// canonical returns a header name in canonical form ("x-tenant" ->
/// "X-Tenant").
fn canonical(k: &str) -> String {
    let mut up = true;
    k.chars()
        .map(|c| {
            let r = if up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
            up = c == '-';
            r
        })
        .collect()
}

/// The fake host of the current thread. Create it with [`Host::new`];
/// dropping it removes it.
pub struct Host {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Host {
    /// Installs a fresh fake host on this thread: an IMAP session in the
    /// login hook, features `abi-1.0`, `abi-1.1` and `abi-1.2`, an empty store, a fixed
    /// clock (2026-01-02T03:04:05Z), a 64 KiB HTTP response limit and no
    /// HTTP stub (every http_call is [`Error::DENIED`]). Panics if one is
    /// installed already.
    pub fn new() -> Host {
        HOST.with(|h| {
            let mut h = h.borrow_mut();
            assert!(h.is_none(), "postern: a fake host is already installed on this thread");
            let mut fields = HashMap::new();
            fields.insert(field::PROTOCOL, b"imap".to_vec());
            let mut features = BTreeMap::new();
            features.insert("abi-1.0".to_string(), true);
            features.insert("abi-1.1".to_string(), true);
            features.insert("abi-1.2".to_string(), true);
            *h = Some(State {
                phase: phase::LOGIN,
                fields,
                init_fields: HashMap::new(),
                headers: Vec::new(),
                resp_headers: Vec::new(),
                cookies: BTreeMap::new(),
                imap_id: BTreeMap::new(),
                config: Vec::new(),
                features,
                kv: BTreeMap::new(),
                kv_down: false,
                now_ns: 1_767_323_045_000_000_000,
                http: None,
                http_requests: Vec::new(),
                http_max_body: 64 << 10,
                resp: None,
                logs: Vec::new(),
                counters: BTreeMap::new(),
            });
        });
        Host { _not_send: std::marker::PhantomData }
    }

    /// Sets a plain field as the ABI encodes it (lists NUL-separated).
    pub fn set_field(&self, f: i32, v: impl AsRef<[u8]>) {
        with(|h| h.fields.insert(f, v.as_ref().to_vec()));
    }

    /// A plain field as the session holds it ("" when absent).
    pub fn field(&self, f: i32) -> String {
        with(|h| h.fields.get(&f).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default())
    }

    /// Adds an HTTP request header.
    pub fn add_header(&self, name: &str, value: &str) {
        with(|h| h.headers.push((name.to_string(), value.to_string())));
    }

    /// The values of a request header (after the plugin's rewrites).
    pub fn header(&self, name: &str) -> Vec<String> {
        with(|h| h.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).collect())
    }

    /// Adds an upstream response header (response hook).
    pub fn add_response_header(&self, name: &str, value: &str) {
        with(|h| h.resp_headers.push((name.to_string(), value.to_string())));
    }

    /// The values of an upstream response header (after the plugin's
    /// rewrites).
    pub fn response_header(&self, name: &str) -> Vec<String> {
        with(|h| h.resp_headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).collect())
    }

    /// Sets a cookie.
    pub fn set_cookie(&self, name: &str, value: &str) {
        with(|h| h.cookies.insert(name.to_string(), value.to_string()));
    }

    /// Sets an IMAP ID parameter.
    pub fn set_imap_id(&self, name: &str, value: &str) {
        with(|h| h.imap_id.insert(name.to_string(), value.to_string()));
    }

    /// Sets the configuration config_get returns.
    pub fn set_config(&self, cfg: impl AsRef<[u8]>) {
        with(|h| h.config = cfg.as_ref().to_vec());
    }

    /// Turns a feature on or off.
    pub fn set_feature(&self, name: &str, on: bool) {
        with(|h| h.features.insert(name.to_string(), on));
    }

    /// Stores a key-value entry (ttl_seconds 0: no expiry).
    pub fn kv_put(&self, key: &str, value: impl AsRef<[u8]>, ttl_seconds: i64) {
        with(|h| {
            let expires = if ttl_seconds == 0 { 0 } else { h.now_ns + ttl_seconds * 1_000_000_000 };
            h.kv.insert(key.as_bytes().to_vec(), Item { value: value.as_ref().to_vec(), expires })
        });
    }

    /// A live key-value entry's value.
    pub fn kv(&self, key: &str) -> Option<Vec<u8>> {
        with(|h| h.kv_live(key.as_bytes()).map(|it| it.value.clone()))
    }

    /// Makes every key-value call return [`Error::UNAVAILABLE`].
    pub fn set_kv_down(&self, down: bool) {
        with(|h| h.kv_down = down);
    }

    /// Moves the clock forward (key-value expiry, clock_now).
    pub fn advance_secs(&self, secs: i64) {
        with(|h| h.now_ns += secs * 1_000_000_000);
    }

    /// Answers http_call with f (and reports feature http-call). Return an
    /// [`Error`] to simulate a timeout, an unreachable server or a denial.
    pub fn set_http(&self, f: impl FnMut(&HttpRequest) -> Result<HttpResponse, Error> + 'static) {
        with(|h| h.http = Some(Box::new(f)));
    }

    /// Every request the plugin made with http_call.
    pub fn http_requests(&self) -> Vec<HttpRequest> {
        with(|h| h.http_requests.clone())
    }

    /// The lines the plugin logged, with their level.
    pub fn logs(&self) -> Vec<(Level, String)> {
        with(|h| {
            h.logs
                .iter()
                .map(|(l, m)| {
                    let l = match l {
                        0 => Level::Debug,
                        1 => Level::Info,
                        2 => Level::Warn,
                        _ => Level::Error,
                    };
                    (l, m.clone())
                })
                .collect()
        })
    }

    /// A counter's value (0 when never added to).
    pub fn counter(&self, name: &str) -> i64 {
        with(|h| h.counters.get(name).copied().unwrap_or(0))
    }

    /// Runs an init function with the configuration, in phase init, as the
    /// host does once per instance. Returns the message it set (the
    /// refusal's reason) on refusal.
    pub fn init(&self, f: fn(&[u8]) -> crate::InitResult) -> Result<(), String> {
        let prev = with(|h| std::mem::replace(&mut h.phase, phase::INIT));
        let r = crate::__run_init(f);
        with(|h| {
            h.phase = prev;
            if r == 0 {
                Ok(())
            } else {
                Err(h.init_fields.get(&field::MESSAGE).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default())
            }
        })
    }

    /// A field init wrote (message, password_verified, request filters,
    /// reuse_ms as the decimal number of milliseconds).
    /// The fake validates reuse_ms but reuses nothing: every call_hook
    /// runs the hook.
    pub fn init_field(&self, f: i32) -> String {
        with(|h| h.init_fields.get(&f).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default())
    }

    /// Runs a hook function in the hook's phase ([`phase`] constant).
    /// The http_call response is discarded at the end, as after an export
    /// call.
    pub fn call_hook(&self, hook_phase: i32, f: impl FnOnce() -> crate::Verdict) -> crate::Verdict {
        let prev = with(|h| std::mem::replace(&mut h.phase, hook_phase));
        let v = f();
        with(|h| {
            h.phase = prev;
            h.resp = None;
        });
        v
    }

    /// Runs an event function in the event's phase (fields read-only).
    pub fn fire_event(&self, event_phase: i32, f: impl FnOnce()) {
        let prev = with(|h| std::mem::replace(&mut h.phase, event_phase));
        f();
        with(|h| {
            h.phase = prev;
            h.resp = None;
        });
    }
}

impl Default for Host {
    fn default() -> Self {
        Host::new()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = HOST.try_with(|h| h.borrow_mut().take());
    }
}
