;; probe: the "buf, limit -> len" convention (ABI.md "Memory" and
;; "config_get"). The host must call it with login "alice@example.com"
;; (17 bytes), sni "" and configuration {"limit":10} (12 bytes).
;; The login hook runs checks a..i in order, sets message to "ok" or
;; "fail:<letter>" for the first that failed, and returns 1 (Done).
(module
  (import "postern" "field_get"  (func $field_get (param i32 i32 i32) (result i32)))
  (import "postern" "field_set"  (func $field_set (param i32 i32 i32) (result i32)))
  (import "postern" "config_get" (func $config_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "ok")
  (data (i32.const 16) "fail:?")
  (global $failed (mut i32) (i32.const 0))
  (func (export "postern_abi_version") (result i32) i32.const 0x00010000)
  ;; $check records the first failed step.
  (func $check (param $ok i32) (param $step i32)
    (if (i32.and (i32.eqz (local.get $ok)) (i32.eqz (global.get $failed)))
      (then (global.set $failed (local.get $step)))))
  (func (export "postern_hook_login") (result i32)
    ;; fill 1024..1279 with '#'
    (memory.fill (i32.const 1024) (i32.const 35) (i32.const 256))
    ;; a: a size probe returns the full length and copies nothing
    (call $check (i32.eq (call $field_get (i32.const 12) (i32.const 1024) (i32.const 0)) (i32.const 17)) (i32.const 97))
    ;; b: ... and leaves the buffer untouched
    (call $check (i32.eq (i32.load8_u (i32.const 1024)) (i32.const 35)) (i32.const 98))
    ;; c: a short buffer returns the full length
    (call $check (i32.eq (call $field_get (i32.const 12) (i32.const 1024) (i32.const 4)) (i32.const 17)) (i32.const 99))
    ;; d: ... copies exactly limit bytes ("alic") ...
    (call $check (i32.eq (i32.load (i32.const 1024)) (i32.const 0x63696c61)) (i32.const 100))
    ;; e: ... and not one more
    (call $check (i32.eq (i32.load8_u (i32.const 1028)) (i32.const 35)) (i32.const 101))
    ;; f: a large buffer gets the whole value, the rest untouched
    (call $check (i32.eq (call $field_get (i32.const 12) (i32.const 1024) (i32.const 256)) (i32.const 17)) (i32.const 102))
    (call $check (i32.and (i32.eq (i32.load8_u (i32.const 1040)) (i32.const 109))      ;; 'm'
                          (i32.eq (i32.load8_u (i32.const 1041)) (i32.const 35))) (i32.const 102))
    ;; g: an empty field reads as length 0
    (call $check (i32.eqz (call $field_get (i32.const 10) (i32.const 2048) (i32.const 16))) (i32.const 103))
    ;; h: config_get probe, then a read of exactly its length
    (call $check (i32.eq (call $config_get (i32.const 0) (i32.const 0)) (i32.const 12)) (i32.const 104))
    (call $check (i32.eq (call $config_get (i32.const 2048) (i32.const 12)) (i32.const 12)) (i32.const 104))
    (call $check (i32.eq (i32.load8_u (i32.const 2048)) (i32.const 123)) (i32.const 104))     ;; '{'
    (call $check (i32.eq (i32.load8_u (i32.const 2059)) (i32.const 125)) (i32.const 104))     ;; '}'
    ;; i: a read returns the latest value, including this call's writes
    (drop (call $field_set (i32.const 15) (i32.const 1024) (i32.const 5)))                  ;; account := "alice"
    (call $check (i32.eq (call $field_get (i32.const 15) (i32.const 3072) (i32.const 64)) (i32.const 5)) (i32.const 105))
    (if (i32.eqz (global.get $failed))
      (then (drop (call $field_set (i32.const 27) (i32.const 0) (i32.const 2))))
      (else
        (i32.store8 (i32.const 21) (global.get $failed))
        (drop (call $field_set (i32.const 27) (i32.const 16) (i32.const 6)))))
    i32.const 1))
