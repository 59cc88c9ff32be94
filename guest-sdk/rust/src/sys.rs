//! The host functions of module `postern`, as safe slice-taking calls. In
//! a wasm32 build they are the real imports; natively they reach the fake
//! host of [`crate::testing`].

#[cfg(target_arch = "wasm32")]
mod imp {
    #[link(wasm_import_module = "postern")]
    extern "C" {
        pub fn feature(name: *const u8, name_len: usize) -> i32;
        pub fn log(level: i32, msg: *const u8, msg_len: usize);
        pub fn config_get(buf: *mut u8, limit: usize) -> i32;
        pub fn field_get(field: i32, buf: *mut u8, limit: usize) -> i32;
        pub fn field_set(field: i32, val: *const u8, val_len: usize) -> i32;
        pub fn field_get_key(field: i32, key: *const u8, key_len: usize, buf: *mut u8, limit: usize) -> i32;
        pub fn field_set_key(field: i32, key: *const u8, key_len: usize, val: *const u8, val_len: usize) -> i32;
        pub fn field_delete_key(field: i32, key: *const u8, key_len: usize) -> i32;
        pub fn kv_get(key: *const u8, key_len: usize, buf: *mut u8, limit: usize) -> i32;
        pub fn kv_set(key: *const u8, key_len: usize, val: *const u8, val_len: usize, ttl: i32) -> i32;
        pub fn kv_add(key: *const u8, key_len: usize, val: *const u8, val_len: usize, ttl: i32) -> i32;
        pub fn kv_incr(key: *const u8, key_len: usize, delta: i64) -> i64;
        pub fn kv_delete(key: *const u8, key_len: usize) -> i32;
        pub fn kv_batch(ops: *const u8, ops_len: usize, buf: *mut u8, limit: usize) -> i32;
        #[allow(clippy::too_many_arguments)]
        pub fn http_call(
            method: *const u8,
            method_len: usize,
            url: *const u8,
            url_len: usize,
            headers: *const u8,
            headers_len: usize,
            body: *const u8,
            body_len: usize,
            timeout_ms: i32,
        ) -> i32;
        pub fn http_response_get(part: i32, buf: *mut u8, limit: usize) -> i32;
        pub fn clock_now() -> i64;
        pub fn counter_add(name: *const u8, name_len: usize, delta: i64);
    }
}

#[cfg(target_arch = "wasm32")]
mod calls {
    use super::imp;
    // Every range passed here is a live Rust slice, so the host's bounds
    // checks cannot fail: the calls are safe.
    pub fn feature(name: &[u8]) -> i32 {
        unsafe { imp::feature(name.as_ptr(), name.len()) }
    }
    pub fn log(level: i32, msg: &[u8]) {
        unsafe { imp::log(level, msg.as_ptr(), msg.len()) }
    }
    pub fn config_get(buf: &mut [u8]) -> i32 {
        unsafe { imp::config_get(buf.as_mut_ptr(), buf.len()) }
    }
    pub fn field_get(f: i32, buf: &mut [u8]) -> i32 {
        unsafe { imp::field_get(f, buf.as_mut_ptr(), buf.len()) }
    }
    pub fn field_set(f: i32, val: &[u8]) -> i32 {
        unsafe { imp::field_set(f, val.as_ptr(), val.len()) }
    }
    pub fn field_get_key(f: i32, key: &[u8], buf: &mut [u8]) -> i32 {
        unsafe { imp::field_get_key(f, key.as_ptr(), key.len(), buf.as_mut_ptr(), buf.len()) }
    }
    pub fn field_set_key(f: i32, key: &[u8], val: &[u8]) -> i32 {
        unsafe { imp::field_set_key(f, key.as_ptr(), key.len(), val.as_ptr(), val.len()) }
    }
    pub fn field_delete_key(f: i32, key: &[u8]) -> i32 {
        unsafe { imp::field_delete_key(f, key.as_ptr(), key.len()) }
    }
    pub fn kv_get(key: &[u8], buf: &mut [u8]) -> i32 {
        unsafe { imp::kv_get(key.as_ptr(), key.len(), buf.as_mut_ptr(), buf.len()) }
    }
    pub fn kv_set(key: &[u8], val: &[u8], ttl: i32) -> i32 {
        unsafe { imp::kv_set(key.as_ptr(), key.len(), val.as_ptr(), val.len(), ttl) }
    }
    pub fn kv_add(key: &[u8], val: &[u8], ttl: i32) -> i32 {
        unsafe { imp::kv_add(key.as_ptr(), key.len(), val.as_ptr(), val.len(), ttl) }
    }
    pub fn kv_incr(key: &[u8], delta: i64) -> i64 {
        unsafe { imp::kv_incr(key.as_ptr(), key.len(), delta) }
    }
    pub fn kv_delete(key: &[u8]) -> i32 {
        unsafe { imp::kv_delete(key.as_ptr(), key.len()) }
    }
    pub fn kv_batch(ops: &[u8], buf: &mut [u8]) -> i32 {
        unsafe { imp::kv_batch(ops.as_ptr(), ops.len(), buf.as_mut_ptr(), buf.len()) }
    }
    pub fn http_call(method: &[u8], url: &[u8], headers: &[u8], body: &[u8], timeout_ms: i32) -> i32 {
        unsafe {
            imp::http_call(
                method.as_ptr(),
                method.len(),
                url.as_ptr(),
                url.len(),
                headers.as_ptr(),
                headers.len(),
                body.as_ptr(),
                body.len(),
                timeout_ms,
            )
        }
    }
    pub fn http_response_get(part: i32, buf: &mut [u8]) -> i32 {
        unsafe { imp::http_response_get(part, buf.as_mut_ptr(), buf.len()) }
    }
    pub fn clock_now() -> i64 {
        unsafe { imp::clock_now() }
    }
    pub fn counter_add(name: &[u8], delta: i64) {
        unsafe { imp::counter_add(name.as_ptr(), name.len(), delta) }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod calls {
    use crate::testing::with;
    pub fn feature(name: &[u8]) -> i32 {
        with(|h| h.feature(name))
    }
    pub fn log(level: i32, msg: &[u8]) {
        with(|h| h.log(level, msg))
    }
    pub fn config_get(buf: &mut [u8]) -> i32 {
        with(|h| h.config_get(buf))
    }
    pub fn field_get(f: i32, buf: &mut [u8]) -> i32 {
        with(|h| h.field_get(f, buf))
    }
    pub fn field_set(f: i32, val: &[u8]) -> i32 {
        with(|h| h.field_set(f, val))
    }
    pub fn field_get_key(f: i32, key: &[u8], buf: &mut [u8]) -> i32 {
        with(|h| h.field_get_key(f, key, buf))
    }
    pub fn field_set_key(f: i32, key: &[u8], val: &[u8]) -> i32 {
        with(|h| h.field_set_key(f, key, val))
    }
    pub fn field_delete_key(f: i32, key: &[u8]) -> i32 {
        with(|h| h.field_delete_key(f, key))
    }
    pub fn kv_get(key: &[u8], buf: &mut [u8]) -> i32 {
        with(|h| h.kv_get(key, buf))
    }
    pub fn kv_set(key: &[u8], val: &[u8], ttl: i32) -> i32 {
        with(|h| h.kv_set(key, val, ttl, false))
    }
    pub fn kv_add(key: &[u8], val: &[u8], ttl: i32) -> i32 {
        with(|h| h.kv_set(key, val, ttl, true))
    }
    pub fn kv_incr(key: &[u8], delta: i64) -> i64 {
        with(|h| h.kv_incr(key, delta))
    }
    pub fn kv_delete(key: &[u8]) -> i32 {
        with(|h| h.kv_delete(key))
    }
    pub fn kv_batch(ops: &[u8], buf: &mut [u8]) -> i32 {
        with(|h| h.kv_batch(ops, buf))
    }
    pub fn http_call(method: &[u8], url: &[u8], headers: &[u8], body: &[u8], timeout_ms: i32) -> i32 {
        crate::testing::http_call(method, url, headers, body, timeout_ms)
    }
    pub fn http_response_get(part: i32, buf: &mut [u8]) -> i32 {
        with(|h| h.http_response_get(part, buf))
    }
    pub fn clock_now() -> i64 {
        with(|h| h.now_ns)
    }
    pub fn counter_add(name: &[u8], delta: i64) {
        with(|h| h.counter_add(name, delta))
    }
}

pub(crate) use calls::*;
