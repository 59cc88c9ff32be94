//! The SDK's own tests, natively against the fake host.

use crate::testing::Host;
use crate::*;

#[test]
fn fields_follow_the_access_table() {
    let h = Host::new();
    h.set_field(field::LOGIN, "bob");
    h.set_field(field::PASSWORD, "secret");
    assert_eq!(h.call_hook(phase::THROTTLE, || {
        assert_eq!(get_string(field::PASSWORD), Err(Error::NOT_AVAILABLE));
        assert_eq!(set(field::LOGIN, "x"), Err(Error::READ_ONLY));
        assert_eq!(get_string(999), Err(Error::UNKNOWN_FIELD));
        assert_eq!(get_string(field::HTTP_METHOD), Err(Error::NOT_AVAILABLE));
        Verdict::Continue
    }), Verdict::Continue);
    h.call_hook(phase::ROUTE, || {
        assert_eq!(get_string(field::PASSWORD).unwrap(), "secret");
        assert_eq!(account(), "bob"); // account reads as login until set
        set_account("acct").unwrap();
        set_upstreams(&["10.0.0.5:143", "[2001:db8::5]:143"]).unwrap();
        assert_eq!(set_upstreams(&["10.0.0.5"]), Err(Error::INVALID));
        assert_eq!(get_list(field::UPSTREAMS).unwrap(), vec!["10.0.0.5:143", "[2001:db8::5]:143"]);
        Verdict::Done
    });
    assert_eq!(h.field(field::ACCOUNT), "acct");
    assert_eq!(h.field(field::UPSTREAMS), "10.0.0.5:143\0[2001:db8::5]:143");
}

#[test]
fn long_values_are_read_whole() {
    let h = Host::new();
    h.set_field(field::LOGIN, "l".repeat(100_000));
    assert_eq!(get(field::LOGIN).unwrap().len(), 100_000);
}

#[test]
fn message_is_one_line_and_fits() {
    let h = Host::new();
    assert_eq!(refuse("a\r\nb"), Verdict::Refuse);
    assert_eq!(h.field(field::MESSAGE), "a  b");
    let long = "é".repeat(limits::MAX_FIELD_BYTES);
    set_message(&long).unwrap();
    let got = h.field(field::MESSAGE);
    assert!(got.len() <= limits::MAX_FIELD_BYTES && got.len() > limits::MAX_FIELD_BYTES - 2);
    assert_eq!(set(field::MESSAGE, "x".repeat(limits::MAX_FIELD_BYTES + 1)), Err(Error::TOO_LARGE));
}

#[test]
fn keyed_fields() {
    let h = Host::new();
    h.set_field(field::PROTOCOL, "http");
    h.add_header("Accept-Language", "de");
    h.add_header("accept-language", "fr");
    h.set_cookie("SID", "tok");
    h.call_hook(phase::REWRITE, || {
        assert_eq!(get_key_string(field::HTTP_HEADER, "ACCEPT-LANGUAGE").unwrap(), "de, fr");
        assert_eq!(get_key_string(field::HTTP_HEADER, "bad name"), Err(Error::INVALID));
        assert_eq!(get_key_string(field::HTTP_COOKIE, "SID").unwrap(), "tok");
        assert_eq!(set_key(field::HTTP_COOKIE, "SID", "x"), Err(Error::READ_ONLY));
        set_key(field::HTTP_HEADER, "x-tenant", "acme").unwrap();
        assert_eq!(delete_key(field::HTTP_HEADER, "X-None"), Err(Error::NOT_FOUND));
        assert_eq!(get(field::HTTP_HEADERS).unwrap(), b"Accept-Language\0X-Tenant".to_vec());
        Verdict::Done
    });
    assert_eq!(h.header("X-Tenant"), vec!["acme"]);
}

#[test]
fn kv_semantics() {
    let h = Host::new();
    assert_eq!(kv_incr("n", 1), Err(Error::NOT_FOUND));
    kv_add("n", "1", 10).unwrap();
    assert_eq!(kv_add("n", "1", 10), Err(Error::EXISTS));
    assert_eq!(kv_incr("n", 2), Ok(3));
    assert_eq!(kv_incr("n", -1), Err(Error::INVALID));
    assert_eq!(kv_set("bad key", "v", 0), Err(Error::INVALID));
    assert_eq!(kv_set("k", "v", -1), Err(Error::INVALID));
    h.advance_secs(11);
    assert_eq!(kv_get("n"), Err(Error::NOT_FOUND));
    kv_set("k", "v", 0).unwrap();
    kv_delete("k").unwrap();
    assert_eq!(kv_delete("k"), Err(Error::NOT_FOUND));
    h.set_kv_down(true);
    assert_eq!(kv_get("k"), Err(Error::UNAVAILABLE));
}

#[test]
fn http_call_through_the_stub() {
    let h = Host::new();
    assert!(!feature("http-call"));
    assert_eq!(http_call(&HttpRequest::get("http://lookup/route")), Err(Error::DENIED));
    h.set_http(|req| {
        assert_eq!(req.headers, vec![("X-A".to_string(), "1".to_string())]);
        Ok(HttpResponse { status: 200, headers: vec![("X-Reply".into(), "yes".into())], body: b"10.0.0.5:143".to_vec() })
    });
    assert!(feature("http-call"));
    let r = http_call(&HttpRequest::get("http://lookup/route").header("X-A", "1")).unwrap();
    assert_eq!((r.status, r.header("x-reply"), r.body.as_slice()), (200, Some("yes"), &b"10.0.0.5:143"[..]));
    assert_eq!(http_call(&HttpRequest::get("ftp://x/")), Err(Error::INVALID));
    assert_eq!(h.http_requests().len(), 2);
}

#[test]
fn init_refusal_and_filters() {
    let h = Host::new();
    h.set_config("{}");
    fn refuse_init(cfg: &[u8]) -> InitResult {
        assert_eq!(cfg, b"{}");
        assert_eq!(get(field::LOGIN), Err(Error::NOT_AVAILABLE));
        set_list(field::ONLY_PROTOCOLS, &["imap"]).map_err(|e| e.to_string())?;
        Err("missing key \"servers\"".into())
    }
    assert_eq!(h.init(refuse_init), Err("missing key \"servers\"".to_string()));
    assert_eq!(h.init_field(field::ONLY_PROTOCOLS), "imap");
}

#[test]
fn reuse_decisions_in_init_only() {
    let h = Host::new();
    assert!(feature("abi-1.2"));
    fn declare(_: &[u8]) -> InitResult {
        assert_eq!(get_string(field::REUSE_MS).unwrap(), "0"); // reads 0 until written
        reuse_decisions(5000).map_err(|e| e.to_string())?;
        for bad in ["3600001", "-1", "+5", " 5", "5s", "", "0x10"] {
            assert_eq!(set(field::REUSE_MS, bad), Err(Error::INVALID), "{:?}", bad);
        }
        assert_eq!(reuse_decisions(limits::MAX_REUSE_MS as u32 + 1), Err(Error::INVALID));
        assert_eq!(get_string(field::REUSE_MS).unwrap(), "5000"); // nothing changed
        Ok(())
    }
    assert_eq!(h.init(declare), Ok(()));
    assert_eq!(h.init_field(field::REUSE_MS), "5000");
    fn leading_zeros(_: &[u8]) -> InitResult {
        set(field::REUSE_MS, "0042").map_err(|e| e.to_string())?;
        assert_eq!(get_string(field::REUSE_MS).unwrap(), "42");
        reuse_decisions(limits::MAX_REUSE_MS as u32).map_err(|e| e.to_string())
    }
    assert_eq!(h.init(leading_zeros), Ok(()));
    assert_eq!(h.init_field(field::REUSE_MS), "3600000");
    h.set_field(field::PROTOCOL, "http");
    h.call_hook(phase::LOGIN, || {
        assert_eq!(reuse_decisions(1000), Err(Error::NOT_AVAILABLE));
        assert_eq!(get(field::REUSE_MS), Err(Error::NOT_AVAILABLE));
        Verdict::Continue
    });
    assert_eq!(h.init_field(field::REUSE_MS), "3600000");
}

#[test]
fn logs_counters_clock() {
    let h = Host::new();
    info("hello");
    log_raw(9, b"odd level");
    counter_add("logins", 2);
    counter_add("Bad-Name", 1);
    counter_add("logins", -1);
    assert_eq!(h.logs(), vec![(Level::Info, "hello".to_string()), (Level::Error, "odd level".to_string())]);
    assert_eq!((h.counter("logins"), h.counter("Bad-Name")), (2, 0));
    let t = clock_now();
    h.advance_secs(1);
    assert_eq!(clock_now() - t, 1_000_000_000);
}

#[test]
fn events_are_read_only() {
    let h = Host::new();
    h.set_field(field::UPSTREAM, "10.0.0.5:143");
    h.fire_event(phase::ROUTE_DECIDED, || {
        assert_eq!(get_string(field::UPSTREAM).unwrap(), "10.0.0.5:143");
        assert_eq!(set_message("x"), Err(Error::READ_ONLY));
    });
}

#[test]
fn verdict_codes() {
    for v in [Verdict::Continue, Verdict::Done, Verdict::Refuse, Verdict::TempFail, Verdict::Retry] {
        assert_eq!(Verdict::from_code(v as i32), Some(v));
    }
    assert_eq!(Verdict::from_code(5), None);
    assert_eq!(format!("{}", Error::NOT_FOUND), "postern: ErrNotFound (-5)");
}

/// A deterministic pseudo-random pass (the SDK has no fuzzing harness
/// without crates): header parsing and every field, keyed and kv call of
/// the fake host take arbitrary bytes without panicking, and a value read
/// back is the value written.
#[test]
fn arbitrary_bytes_do_not_panic() {
    let h = Host::new();
    h.set_field(field::PROTOCOL, "http");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"ab:\r\n\0 -_/?1234567890.[]@\xff\xc3";
    for _ in 0..20_000 {
        let n = (next() % 24) as usize;
        let bytes: Vec<u8> = (0..n).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
        let _ = parse_headers(&bytes);
        let f = (next() % (field::MAX as u64 + 3)) as i32;
        let key = String::from_utf8_lossy(&bytes).into_owned();
        h.call_hook(phase::REWRITE, || {
            if set(f, &bytes).is_ok() && f != field::DELAY_MS && f != field::CACHE_ALIAS {
                if let Ok(v) = get(f) {
                    if ![field::PASSWORD_VERIFIED, field::ROUTE_CACHED, field::ONLY_LOGIN].contains(&f) {
                        assert_eq!(v, bytes, "field {}", f);
                    }
                }
            }
            let _ = get_key(f, &key);
            let _ = set_key(f, &key, &bytes);
            let _ = delete_key(f, &key);
            let _ = kv_set(&key, &bytes, (next() % 3) as i32 - 1);
            let _ = kv_get(&key);
            let _ = kv_incr(&key, 1);
            Verdict::Continue
        });
    }
}
