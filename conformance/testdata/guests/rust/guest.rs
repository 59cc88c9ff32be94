//! The conformance suite's command-protocol guest built with the Rust SDK
//! (guest-sdk/rust); ../README.md is its contract, shared with the Go and C
//! guests. conformance's TestConformance_Postern_RustGuest builds it with
//! rustc (guest-sdk/rust/README.md) and runs the cases.

use postern::{field, Error, HttpRequest, Verdict};
use std::cell::RefCell;

thread_local! {
    static CONFIG: RefCell<Vec<u8>> = RefCell::new(Vec::new());
    static INIT_REPORT: RefCell<String> = RefCell::new(String::new());
    static RETRY_PENDING: RefCell<bool> = RefCell::new(false);
    static EVENTS: RefCell<(u32, u32)> = RefCell::new((0, 0));
}

/// ok formats a setter's result: "ok" or the decimal code.
fn ok(r: postern::Result<()>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => e.0.to_string(),
    }
}

fn answer(msg: impl AsRef<[u8]>) -> Verdict {
    let _ = postern::set(field::MESSAGE, msg);
    Verdict::Done
}

fn answer_result(r: postern::Result<Vec<u8>>) -> Verdict {
    match r {
        Ok(v) => answer(v),
        Err(e) => answer(e.0.to_string()),
    }
}

/// num parses an optionally negative decimal number, stopping at the first
/// other byte (as the C guest does).
fn num(s: &str) -> i64 {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let mut n: i64 = 0;
    for c in digits.bytes() {
        if !c.is_ascii_digit() {
            break;
        }
        n = n.wrapping_mul(10).wrapping_add((c - b'0') as i64);
    }
    if neg {
        -n
    } else {
        n
    }
}

/// split cuts s at the first ':'.
fn split(s: &str) -> Option<(&str, &str)> {
    let i = s.find(':')?;
    Some((&s[..i], &s[i + 1..]))
}

fn init(cfg: &[u8]) -> postern::InitResult {
    let text = String::from_utf8_lossy(cfg);
    if let Some(i) = text.find("\"refuse\":\"") {
        let rest = &text[i + 10..];
        let end = rest.find('"').unwrap_or(rest.len());
        return Err(rest[..end].to_string());
    }
    CONFIG.with(|c| *c.borrow_mut() = cfg.to_vec());
    let login = match postern::get(field::LOGIN) {
        Ok(_) => 0,
        Err(e) => e.0,
    };
    let set = ok(postern::set(field::MESSAGE, "init"));
    INIT_REPORT.with(|r| *r.borrow_mut() = format!("login={} set={}", login, set));
    Ok(())
}

fn http_get(method: &str, url: &str, timeout_ms: i32) -> postern::Result<postern::HttpResponse> {
    let mut req = HttpRequest::get(url).header("X-Conformance", "1");
    req.method = method.to_string();
    req.timeout_ms = timeout_ms;
    postern::http_call(&req)
}

fn run() -> Verdict {
    let raw = match postern::get(field::LOGIN) {
        Ok(v) => v,
        Err(_) => return Verdict::Continue,
    };
    let cmd = String::from_utf8_lossy(&raw).into_owned();
    let (name, rest) = split(&cmd).unwrap_or((cmd.as_str(), ""));
    match name {
        "get" | "len" => match postern::get(num(rest) as i32) {
            Err(e) => answer(e.0.to_string()),
            Ok(v) if name == "len" => answer(v.len().to_string()),
            Ok(v) => answer(v.into_iter().map(|b| if b == 0 { b',' } else { b }).collect::<Vec<u8>>()),
        },
        "set" | "setlist" => match split(rest) {
            None => Verdict::Continue,
            Some((f, _)) => {
                // set takes the rest of the login, NULs included
                let start = name.len() + 1 + f.len() + 1;
                let val = &raw[start..];
                let f = num(f) as i32;
                if name == "setlist" {
                    let val = String::from_utf8_lossy(val).into_owned();
                    let items: Vec<&str> = if val.is_empty() { Vec::new() } else { val.split(',').collect() };
                    answer(ok(postern::set_list(f, &items)))
                } else {
                    answer(ok(postern::set(f, val)))
                }
            }
        },
        "big" => match split(rest) {
            None => Verdict::Continue,
            Some((f, len)) => {
                let f = num(f) as i32;
                let r = postern::set(f, vec![b'x'; num(len) as usize]);
                if r.is_err() || f != field::MESSAGE {
                    answer(ok(r))
                } else {
                    Verdict::Done
                }
            }
        },
        "key" => match split(rest) {
            None => Verdict::Continue,
            Some((f, key)) => answer_result(postern::get_key(num(f) as i32, key)),
        },
        "setkey" => match split(rest).and_then(|(f, kv)| split(kv).map(|(k, v)| (f, k, v))) {
            None => Verdict::Continue,
            Some((f, k, v)) => answer(ok(postern::set_key(num(f) as i32, k, v))),
        },
        "delkey" => match split(rest) {
            None => Verdict::Continue,
            Some((f, k)) => answer(ok(postern::delete_key(num(f) as i32, k))),
        },
        "kvget" => answer_result(postern::kv_get(rest)),
        "kvset" | "kvadd" => match split(rest).and_then(|(k, vt)| split(vt).map(|(v, t)| (k, v, t))) {
            None => Verdict::Continue,
            Some((k, v, t)) => {
                let ttl = num(t) as i32;
                answer(ok(if name == "kvset" { postern::kv_set(k, v, ttl) } else { postern::kv_add(k, v, ttl) }))
            }
        },
        "kvincr" => match split(rest) {
            None => Verdict::Continue,
            Some((k, d)) => match postern::kv_incr(k, num(d)) {
                Ok(n) => answer(n.to_string()),
                Err(e) => answer(e.0.to_string()),
            },
        },
        "kvdel" => answer(ok(postern::kv_delete(rest))),
        "kvbatch" => {
            // The script of conformance case kv/batch on keys rest+"a", "b", "c".
            let (a, b, c) = (format!("{}a", rest), format!("{}b", rest), format!("{}c", rest));
            use postern::KvOp;
            let mut ops = vec![
                KvOp::count(KvOp::INCR, &a, 1),
                KvOp::get(&b),
                KvOp::count(KvOp::DECR, &a, 5),
                KvOp::store(KvOp::ADD, &c, "x", 60),
                KvOp::get(&c),
                KvOp::delete(&b),
                KvOp::get(&b),
                KvOp::get("bad key"),
            ];
            match postern::kv_batch(&mut ops) {
                Err(e) => answer(e.0.to_string()),
                Ok(()) => {
                    let parts: Vec<String> = ops
                        .iter()
                        .map(|o| match (&o.result, o.op) {
                            (Err(e), _) => e.0.to_string(),
                            (Ok(()), KvOp::GET) => String::from_utf8_lossy(&o.value).into_owned(),
                            (Ok(()), KvOp::INCR) | (Ok(()), KvOp::DECR) => o.n.to_string(),
                            _ => "0".to_string(),
                        })
                        .collect();
                    answer(parts.join(","))
                }
            }
        }
        "kvbig" => match split(rest) {
            None => Verdict::Continue,
            Some((k, len)) => answer(ok(postern::kv_set(k, vec![b'v'; num(len) as usize], 0))),
        },
        "http" => match split(rest).and_then(|(m, tu)| split(tu).map(|(t, u)| (m, t, u))) {
            None => Verdict::Continue,
            Some((m, t, u)) => match http_get(m, u, num(t) as i32) {
                Err(e) => answer(e.0.to_string()),
                Ok(resp) => {
                    let mut msg = format!("{} ", resp.status).into_bytes();
                    msg.extend_from_slice(&resp.body);
                    answer(msg)
                }
            },
        },
        "httph" => match http_get("GET", rest, 0) {
            Err(e) => answer(e.0.to_string()),
            Ok(resp) => {
                let yes = resp.headers.iter().any(|(k, v)| k == "X-Reply" && v == "yes");
                answer(if yes { "1" } else { "0" })
            }
        },
        "feature" => answer(if postern::feature(rest) { "1" } else { "0" }),
        "log" => match split(rest) {
            None => Verdict::Continue,
            Some((level, count)) => {
                let n = num(count);
                for i in 1..=n {
                    postern::log_raw(num(level) as i32, format!("line {}", i).as_bytes());
                }
                answer(n.to_string())
            }
        },
        "counter" => match split(rest) {
            None => Verdict::Continue,
            Some((c, d)) => {
                postern::counter_add(c, num(d));
                answer("ok")
            }
        },
        "clock" => answer(postern::clock_now().to_string()),
        "config" => answer(CONFIG.with(|c| c.borrow().clone())),
        "init" => answer(INIT_REPORT.with(|r| r.borrow().clone())),
        "continue" => Verdict::Continue,
        "refuse" => postern::refuse(rest),
        "tempfail" => postern::tempfail(rest),
        "retry" | "retryalways" => {
            let pending = RETRY_PENDING.with(|p| *p.borrow());
            if name == "retry" && pending {
                RETRY_PENDING.with(|p| *p.borrow_mut() = false);
                answer("retried")
            } else {
                RETRY_PENDING.with(|p| *p.borrow_mut() = name == "retry");
                let _ = postern::set(field::DELAY_MS, rest);
                Verdict::Retry
            }
        }
        "delay" => {
            answer(ok(postern::set(field::DELAY_MS, rest)));
            Verdict::Continue
        }
        "trap" => {
            let _ = postern::set_message("partial");
            panic!("trap command");
        }
        "loop" => {
            let _ = postern::set_message("partial");
            let mut spin: u64 = 0;
            loop {
                // volatile: the loop must not be optimised away
                unsafe { std::ptr::write_volatile(&mut spin, std::ptr::read_volatile(&spin).wrapping_add(1)) };
            }
        }
        "events" => {
            let (r, l) = EVENTS.with(|e| *e.borrow());
            answer(format!("route_decided={} login_failed={}", r, l))
        }
        _ => Verdict::Continue,
    }
}

fn route_decided() {
    EVENTS.with(|e| e.borrow_mut().0 += 1);
    let set = ok(postern::set(field::MESSAGE, "x"));
    let upstream = postern::get_string(field::UPSTREAM);
    let list = postern::get_list(field::UPSTREAMS);
    if let (Ok(u), Ok(l)) = (upstream, list) {
        postern::info(&format!("route_decided upstream={} upstreams={} set={}", u, l.join(","), set));
    }
}

fn login_failed() {
    EVENTS.with(|e| e.borrow_mut().1 += 1);
    let account = match postern::get_string(field::ACCOUNT) {
        Ok(a) => a,
        Err(_) => return,
    };
    let message = match postern::get_string(field::MESSAGE) {
        Ok(m) => m,
        Err(_) => return,
    };
    let del = ok(postern::kv_delete(&format!("route:{}", account)));
    postern::info(&format!("login_failed message={} account={} del={}", message, account, del));
}

// Unused in the conformance run; keeps the Error import meaningful for readers.
#[allow(dead_code)]
fn is_miss(e: Error) -> bool {
    e == Error::NOT_FOUND
}

postern::plugin! {
    init => init,
    login => run,
    throttle => run,
    route => run,
    rewrite => run,
    response => run,
    route_decided => route_decided,
    login_failed => login_failed,
}
