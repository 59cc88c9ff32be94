;; reuse: ABI 1.2 decision reuse, field reuse_ms (48). Without a
;; configuration, init checks: (1) reuse_ms reads "0" before any write;
;; (2) "5000" is accepted and (3) reads back; "3600001" (4), "-1" (5),
;; "" (6), "5s" (7) and " 5" (8) are ErrInvalid and (9) leave "5000";
;; (10) "3600000" (MaxReuseMS) is accepted and reads back; (11) "0" is
;; accepted and reads "0"; (12) "2500" is accepted: the plugin declares a
;; reuse of 2.5 s. With the configuration "s", init checks only that "+5"
;; (1) and "-0" (2) are ErrInvalid (decimal: digits, no sign). Init returns
;; 100+N when check N failed (the load fails), else 0.
;; Every request hook checks that reuse_ms is ErrNotAvailable there, to
;; read (1) and to write (2), and that feature "abi-1.2" is 1 (3); it
;; returns Done (1), or 100+N. route_decided logs "event" at info when
;; reading reuse_ms is ErrNotAvailable, else "bad".
(module
  (import "postern" "field_get"  (func $field_get (param i32 i32 i32) (result i32)))
  (import "postern" "field_set"  (func $field_set (param i32 i32 i32) (result i32)))
  (import "postern" "feature"    (func $feature (param i32 i32) (result i32)))
  (import "postern" "config_get" (func $config_get (param i32 i32) (result i32)))
  (import "postern" "log"        (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "5000")         ;; 4
  (data (i32.const 8) "3600001")      ;; 7
  (data (i32.const 16) "-1")          ;; 2
  (data (i32.const 24) "5s")          ;; 2
  (data (i32.const 32) " 5")          ;; 2
  (data (i32.const 40) "3600000")     ;; 7
  (data (i32.const 48) "0")           ;; 1
  (data (i32.const 56) "2500")        ;; 4
  (data (i32.const 64) "+5")          ;; 2
  (data (i32.const 72) "-0")          ;; 2
  (data (i32.const 80) "abi-1.2")     ;; 7
  (data (i32.const 88) "event")       ;; 5
  (data (i32.const 96) "bad")         ;; 3
  (global $fail (mut i32) (i32.const 0))
  (func (export "postern_abi_version") (result i32) i32.const 0x00010002)
  (func $expect (param $got i32) (param $want i32) (param $n i32)
    (if (i32.and (i32.ne (local.get $got) (local.get $want)) (i32.eqz (global.get $fail)))
      (then (global.set $fail (local.get $n)))))
  (func $result (param $ok i32) (result i32)
    (if (result i32) (global.get $fail)
      (then (i32.add (i32.const 100) (global.get $fail)))
      (else (local.get $ok))))
  ;; $reads checks that reuse_ms reads the len bytes at $want, as check n.
  (func $reads (param $want i32) (param $len i32) (param $n i32)
    (local $i i32)
    (call $expect (call $field_get (i32.const 48) (i32.const 1024) (i32.const 16)) (local.get $len) (local.get $n))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (call $expect (i32.load8_u offset=1024 (local.get $i))
                      (i32.load8_u (i32.add (local.get $want) (local.get $i))) (local.get $n))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))
  (func (export "postern_init") (result i32)
    (if (i32.eq (call $config_get (i32.const 2048) (i32.const 1)) (i32.const 1))
      (then
        (if (i32.eq (i32.load8_u (i32.const 2048)) (i32.const 115))   ;; 's'
          (then
            (call $expect (call $field_set (i32.const 48) (i32.const 64) (i32.const 2)) (i32.const -4) (i32.const 1))
            (call $expect (call $field_set (i32.const 48) (i32.const 72) (i32.const 2)) (i32.const -4) (i32.const 2))
            (return (call $result (i32.const 0)))))))
    (call $reads (i32.const 48) (i32.const 1) (i32.const 1))
    (call $expect (call $field_set (i32.const 48) (i32.const 0) (i32.const 4)) (i32.const 0) (i32.const 2))
    (call $reads (i32.const 0) (i32.const 4) (i32.const 3))
    (call $expect (call $field_set (i32.const 48) (i32.const 8) (i32.const 7)) (i32.const -4) (i32.const 4))
    (call $expect (call $field_set (i32.const 48) (i32.const 16) (i32.const 2)) (i32.const -4) (i32.const 5))
    (call $expect (call $field_set (i32.const 48) (i32.const 0) (i32.const 0)) (i32.const -4) (i32.const 6))
    (call $expect (call $field_set (i32.const 48) (i32.const 24) (i32.const 2)) (i32.const -4) (i32.const 7))
    (call $expect (call $field_set (i32.const 48) (i32.const 32) (i32.const 2)) (i32.const -4) (i32.const 8))
    (call $reads (i32.const 0) (i32.const 4) (i32.const 9))
    (call $expect (call $field_set (i32.const 48) (i32.const 40) (i32.const 7)) (i32.const 0) (i32.const 10))
    (call $reads (i32.const 40) (i32.const 7) (i32.const 10))
    (call $expect (call $field_set (i32.const 48) (i32.const 48) (i32.const 1)) (i32.const 0) (i32.const 11))
    (call $reads (i32.const 48) (i32.const 1) (i32.const 11))
    (call $expect (call $field_set (i32.const 48) (i32.const 56) (i32.const 4)) (i32.const 0) (i32.const 12))
    (call $result (i32.const 0)))
  (func $hook (result i32)
    (global.set $fail (i32.const 0))
    (call $expect (call $field_get (i32.const 48) (i32.const 1024) (i32.const 16)) (i32.const -2) (i32.const 1))
    (call $expect (call $field_set (i32.const 48) (i32.const 0) (i32.const 4)) (i32.const -2) (i32.const 2))
    (call $expect (call $feature (i32.const 80) (i32.const 7)) (i32.const 1) (i32.const 3))
    (call $result (i32.const 1)))
  (func (export "postern_hook_login") (result i32) (call $hook))
  (func (export "postern_hook_throttle") (result i32) (call $hook))
  (func (export "postern_hook_route") (result i32) (call $hook))
  (func (export "postern_hook_rewrite") (result i32) (call $hook))
  (func (export "postern_event_route_decided")
    (if (i32.eq (call $field_get (i32.const 48) (i32.const 1024) (i32.const 16)) (i32.const -2))
      (then (call $log (i32.const 1) (i32.const 88) (i32.const 5)))
      (else (call $log (i32.const 1) (i32.const 96) (i32.const 3))))))
