;; Benchmark guest: the work of a typical login hook and nothing more.
;; Reads protocol (1) and client_ip (4) into a 256-byte scratch buffer at 0,
;; reads login (12) into a 256-byte buffer at 256, then sets account (15)
;; to the login bytes read (the returned length, clamped to 0..256).
(module
  (import "postern" "field_get" (func $field_get (param i32 i32 i32) (result i32)))
  (import "postern" "field_set" (func $field_set (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32)
    (local $n i32)
    (drop (call $field_get (i32.const 1) (i32.const 0) (i32.const 256)))   ;; protocol
    (local.set $n (call $field_get (i32.const 12) (i32.const 256) (i32.const 256))) ;; login
    (drop (call $field_get (i32.const 4) (i32.const 0) (i32.const 256)))   ;; client_ip
    ;; clamp: a negative error code becomes 0, a long login 256
    (local.set $n (select (i32.const 0) (local.get $n) (i32.lt_s (local.get $n) (i32.const 0))))
    (local.set $n (select (i32.const 256) (local.get $n) (i32.gt_s (local.get $n) (i32.const 256))))
    (drop (call $field_set (i32.const 15) (i32.const 256) (local.get $n)))  ;; account
    i32.const 0))                                                            ;; Continue
