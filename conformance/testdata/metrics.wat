;; metrics: ABI 1.1 plugin metrics. Init declares the gauge "queue_len"
;; (id 0, help "Queued requests.") and the histogram "lookup_seconds"
;; (id 1, help "Lookup latency.", bounds 0.1 and 1), then checks the
;; declaration rules: the same declaration again returns the same id;
;; another kind under the same name is ErrExists; a bad name, equal
;; bounds, kind 3, a gauge with bounds and help with a newline are
;; ErrInvalid; 33 bounds are ErrTooLarge; a gauge named like the
;; histogram's _count series is ErrExists; 14 more gauges "xa".."xn" get
;; ids 2..15, and a 17th metric ("xz") is ErrTooLarge (MaxMetrics 16).
;; Init returns 100+N when check N
;; failed (the load fails), else 0. The login hook runs the command in the
;; login's first byte: "s" sets the gauge to 2.5, "a" adds 1, "o" observes
;; 0.05, 0.5 and 5 in the histogram, "x" checks the update errors (the
;; wrong kind, unknown ids, NaN: ErrInvalid; metric_declare outside init:
;; ErrNotAvailable). It returns Done (1), or 100+N.
(module
  (import "postern" "metric_declare"   (func $declare (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "postern" "metric_gauge_set" (func $set (param i32 f64) (result i32)))
  (import "postern" "metric_gauge_add" (func $add (param i32 f64) (result i32)))
  (import "postern" "metric_observe"   (func $observe (param i32 f64) (result i32)))
  (import "postern" "field_get"        (func $field_get (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "queue_len")                              ;; 9
  (data (i32.const 16) "Queued requests.")                      ;; 16
  (data (i32.const 32) "lookup_seconds")                        ;; 14
  (data (i32.const 48) "Lookup latency.")                       ;; 15
  (data (i32.const 64) "\9a\99\99\99\99\99\b9\3f\00\00\00\00\00\00\f0\3f") ;; 0.1, 1.0
  (data (i32.const 80) "\00\00\00\00\00\00\f0\3f\00\00\00\00\00\00\f0\3f") ;; 1.0, 1.0
  (data (i32.const 96) "Bad")                                   ;; 3
  (data (i32.const 104) "lookup_seconds_count")                 ;; 20
  (data (i32.const 128) "bad\0ahelp")                           ;; 8
  (data (i32.const 144) "h")                                    ;; 1
  (global $fail (mut i32) (i32.const 0))
  (global $g (mut i32) (i32.const -1))
  (global $h (mut i32) (i32.const -1))
  (func (export "postern_abi_version") (result i32) i32.const 0x00010001)
  (func $expect (param $got i32) (param $want i32) (param $n i32)
    (if (i32.and (i32.ne (local.get $got) (local.get $want)) (i32.eqz (global.get $fail)))
      (then (global.set $fail (local.get $n)))))
  (func $result (param $ok i32) (result i32)
    (if (result i32) (global.get $fail)
      (then (i32.add (i32.const 100) (global.get $fail)))
      (else (local.get $ok))))
  (func (export "postern_init") (result i32)
    (local $i i32)
    (global.set $g (call $declare (i32.const 1) (i32.const 0) (i32.const 9) (i32.const 16) (i32.const 16) (i32.const 0) (i32.const 0)))
    (call $expect (global.get $g) (i32.const 0) (i32.const 1))
    (global.set $h (call $declare (i32.const 2) (i32.const 32) (i32.const 14) (i32.const 48) (i32.const 15) (i32.const 64) (i32.const 2)))
    (call $expect (global.get $h) (i32.const 1) (i32.const 2))
    (call $expect (call $declare (i32.const 1) (i32.const 0) (i32.const 9) (i32.const 16) (i32.const 16) (i32.const 0) (i32.const 0)) (i32.const 0) (i32.const 3))
    (call $expect (call $declare (i32.const 2) (i32.const 0) (i32.const 9) (i32.const 16) (i32.const 16) (i32.const 64) (i32.const 2)) (i32.const -9) (i32.const 4))
    (call $expect (call $declare (i32.const 1) (i32.const 96) (i32.const 3) (i32.const 16) (i32.const 16) (i32.const 0) (i32.const 0)) (i32.const -4) (i32.const 5))
    (call $expect (call $declare (i32.const 2) (i32.const 144) (i32.const 1) (i32.const 16) (i32.const 16) (i32.const 80) (i32.const 2)) (i32.const -4) (i32.const 6))
    (call $expect (call $declare (i32.const 3) (i32.const 144) (i32.const 1) (i32.const 16) (i32.const 16) (i32.const 0) (i32.const 0)) (i32.const -4) (i32.const 7))
    (call $expect (call $declare (i32.const 2) (i32.const 144) (i32.const 1) (i32.const 16) (i32.const 16) (i32.const 0) (i32.const 33)) (i32.const -7) (i32.const 8))
    (call $expect (call $declare (i32.const 1) (i32.const 104) (i32.const 20) (i32.const 16) (i32.const 16) (i32.const 0) (i32.const 0)) (i32.const -9) (i32.const 9))
    (call $expect (call $declare (i32.const 1) (i32.const 144) (i32.const 1) (i32.const 128) (i32.const 8) (i32.const 0) (i32.const 0)) (i32.const -4) (i32.const 10))
    (call $expect (call $declare (i32.const 1) (i32.const 144) (i32.const 1) (i32.const 16) (i32.const 16) (i32.const 64) (i32.const 2)) (i32.const -4) (i32.const 11))
    (i32.store8 (i32.const 160) (i32.const 120))                  ;; 'x'
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 14)))
        (i32.store8 (i32.const 161) (i32.add (i32.const 97) (local.get $i)))
        (call $expect (call $declare (i32.const 1) (i32.const 160) (i32.const 2) (i32.const 16) (i32.const 16) (i32.const 0) (i32.const 0))
          (i32.add (local.get $i) (i32.const 2)) (i32.const 12))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store8 (i32.const 161) (i32.const 122))                  ;; 'z'
    (call $expect (call $declare (i32.const 1) (i32.const 160) (i32.const 2) (i32.const 16) (i32.const 16) (i32.const 0) (i32.const 0)) (i32.const -7) (i32.const 13))
    (call $result (i32.const 0)))
  (func (export "postern_hook_login") (result i32)
    (local $c i32)
    (global.set $fail (i32.const 0))
    (drop (call $field_get (i32.const 12) (i32.const 1024) (i32.const 16)))
    (local.set $c (i32.load8_u (i32.const 1024)))
    (if (i32.eq (local.get $c) (i32.const 115))                  ;; 's'
      (then (call $expect (call $set (global.get $g) (f64.const 2.5)) (i32.const 0) (i32.const 1))))
    (if (i32.eq (local.get $c) (i32.const 97))                   ;; 'a'
      (then (call $expect (call $add (global.get $g) (f64.const 1)) (i32.const 0) (i32.const 1))))
    (if (i32.eq (local.get $c) (i32.const 111))                  ;; 'o'
      (then
        (call $expect (call $observe (global.get $h) (f64.const 0.05)) (i32.const 0) (i32.const 1))
        (call $expect (call $observe (global.get $h) (f64.const 0.5)) (i32.const 0) (i32.const 2))
        (call $expect (call $observe (global.get $h) (f64.const 5)) (i32.const 0) (i32.const 3))))
    (if (i32.eq (local.get $c) (i32.const 120))                  ;; 'x'
      (then
        (call $expect (call $observe (global.get $g) (f64.const 1)) (i32.const -4) (i32.const 1))
        (call $expect (call $set (global.get $h) (f64.const 1)) (i32.const -4) (i32.const 2))
        (call $expect (call $set (i32.const 99) (f64.const 1)) (i32.const -4) (i32.const 3))
        (call $expect (call $set (i32.const -1) (f64.const 1)) (i32.const -4) (i32.const 4))
        (call $expect (call $observe (global.get $h) (f64.const nan)) (i32.const -4) (i32.const 5))
        (call $expect (call $declare (i32.const 1) (i32.const 144) (i32.const 1) (i32.const 16) (i32.const 16) (i32.const 0) (i32.const 0)) (i32.const -2) (i32.const 6))))
    (call $result (i32.const 1))))
