;; kv_batch: refused batches run nothing; a good batch's results come first,
;; then the values; a small buffer still gets every result (ABI.md
;; "kv_batch"). The login hook runs checks a..f, sets message to "ok" or
;; "fail:<letter>" and returns Done.
(module
  (import "postern" "field_set" (func $field_set (param i32 i32 i32) (result i32)))
  (import "postern" "kv_get"    (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "postern" "kv_delete" (func $kv_delete (param i32 i32) (result i32)))
  (import "postern" "kv_batch"  (func $kv_batch (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "ok")
  (data (i32.const 16) "fail:?")
  ;; set "kvb:n" = "1", then an unknown op 9: 16 + 3 bytes
  (data (i32.const 100) "\02\05kvb:n\00\00\00\00\01\00\00\00\31\09\01x")
  ;; get "kvb:k" and one trailing byte: 8 bytes
  (data (i32.const 200) "\01\05kvb:k\00")
  ;; set "kvb:k" = "v", get "kvb:k", get "bad key": 16 + 7 + 9 = 32 bytes
  (data (i32.const 300) "\02\05kvb:k\00\00\00\00\01\00\00\00v\01\05kvb:k\01\07bad key")
  ;; a get with an empty key: 2 bytes
  (data (i32.const 400) "\01\00")
  (data (i32.const 500) "kvb:n")
  (global $failed (mut i32) (i32.const 0))
  (func (export "postern_abi_version") (result i32) i32.const 0x00010001)
  (func $check (param $ok i32) (param $step i32)
    (if (i32.and (i32.eqz (local.get $ok)) (i32.eqz (global.get $failed)))
      (then (global.set $failed (local.get $step)))))
  (func (export "postern_hook_login") (result i32)
    (drop (call $kv_delete (i32.const 500) (i32.const 5)))
    ;; a: an empty batch is ErrInvalid
    (call $check (i32.eq (call $kv_batch (i32.const 100) (i32.const 0) (i32.const 4096) (i32.const 64)) (i32.const -4)) (i32.const 97))
    ;; b: an unknown op refuses the whole batch: the set before it did not run
    (call $check (i32.eq (call $kv_batch (i32.const 100) (i32.const 19) (i32.const 4096) (i32.const 64)) (i32.const -4)) (i32.const 98))
    (call $check (i32.eq (call $kv_get (i32.const 500) (i32.const 5) (i32.const 4096) (i32.const 64)) (i32.const -5)) (i32.const 98))
    ;; c: a trailing byte is ErrInvalid
    (call $check (i32.eq (call $kv_batch (i32.const 200) (i32.const 8) (i32.const 4096) (i32.const 64)) (i32.const -4)) (i32.const 99))
    ;; d: results first (0, 1, ErrInvalid for the bad key alone), then the value
    (call $check (i32.eq (call $kv_batch (i32.const 300) (i32.const 32) (i32.const 4096) (i32.const 64)) (i32.const 25)) (i32.const 100))
    (call $check (i64.eq (i64.load (i32.const 4096)) (i64.const 0)) (i32.const 100))
    (call $check (i64.eq (i64.load (i32.const 4104)) (i64.const 1)) (i32.const 100))
    (call $check (i64.eq (i64.load (i32.const 4112)) (i64.const -4)) (i32.const 100))
    (call $check (i32.eq (i32.load8_u (i32.const 4120)) (i32.const 118)) (i32.const 100))   ;; 'v'
    ;; e: a 16-byte buffer gets the full length back and nothing past 16 bytes
    (i64.store (i32.const 4112) (i64.const 77))
    (call $check (i32.eq (call $kv_batch (i32.const 300) (i32.const 32) (i32.const 4096) (i32.const 16)) (i32.const 25)) (i32.const 101))
    (call $check (i64.eq (i64.load (i32.const 4104)) (i64.const 1)) (i32.const 101))
    (call $check (i64.eq (i64.load (i32.const 4112)) (i64.const 77)) (i32.const 101))
    ;; f: an empty key is ErrInvalid
    (call $check (i32.eq (call $kv_batch (i32.const 400) (i32.const 2) (i32.const 4096) (i32.const 64)) (i32.const -4)) (i32.const 102))
    (if (i32.eqz (global.get $failed))
      (then (drop (call $field_set (i32.const 27) (i32.const 0) (i32.const 2))))
      (else
        (i32.store8 (i32.const 21) (global.get $failed))
        (drop (call $field_set (i32.const 27) (i32.const 16) (i32.const 6)))))
    i32.const 1))
