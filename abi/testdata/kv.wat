;; The route hook runs eight key-value steps against a store in which the
;; plugin's keys "k" and "n" are absent, and sets message (27) to "ok" when
;; every result matched, else to "fail:<step>" for the first that did not.
;; Returns Done (1) either way.
;;   1 kv_set("k", "v", 60)      -> 0
;;   2 kv_get("k", buf, 16)      -> 1, buf = "v"
;;   3 kv_add("k", "w", 60)      -> -9 ErrExists
;;   4 kv_incr("n", 1)           -> -5 ErrNotFound
;;   5 kv_add("n", "1", 60)      -> 0
;;   6 kv_incr("n", 2)           -> 3
;;   7 kv_delete("k")            -> 0
;;   8 kv_get("k", buf, 16)      -> -5 ErrNotFound
(module
  (import "postern" "field_set" (func $field_set (param i32 i32 i32) (result i32)))
  (import "postern" "kv_get"    (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "postern" "kv_set"    (func $kv_set (param i32 i32 i32 i32 i32) (result i32)))
  (import "postern" "kv_add"    (func $kv_add (param i32 i32 i32 i32 i32) (result i32)))
  (import "postern" "kv_incr"   (func $kv_incr (param i32 i32 i64) (result i64)))
  (import "postern" "kv_delete" (func $kv_delete (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0)  "k")
  (data (i32.const 1)  "v")
  (data (i32.const 2)  "w")
  (data (i32.const 3)  "n")
  (data (i32.const 4)  "1")
  (data (i32.const 16) "ok")
  (data (i32.const 32) "fail:")          ;; the step digit goes at 37
  ;; 64..79: the kv_get buffer
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_route") (result i32)
    (local $step i32)
    (block $fail
      (local.set $step (i32.const 1))
      (br_if $fail (i32.ne (call $kv_set (i32.const 0) (i32.const 1)
                                         (i32.const 1) (i32.const 1) (i32.const 60))
                           (i32.const 0)))
      (local.set $step (i32.const 2))
      (i32.store8 (i32.const 64) (i32.const 0))
      (br_if $fail (i32.ne (call $kv_get (i32.const 0) (i32.const 1)
                                         (i32.const 64) (i32.const 16))
                           (i32.const 1)))
      (br_if $fail (i32.ne (i32.load8_u (i32.const 64)) (i32.const 118)))  ;; 'v'
      (local.set $step (i32.const 3))
      (br_if $fail (i32.ne (call $kv_add (i32.const 0) (i32.const 1)
                                         (i32.const 2) (i32.const 1) (i32.const 60))
                           (i32.const -9)))
      (local.set $step (i32.const 4))
      (br_if $fail (i64.ne (call $kv_incr (i32.const 3) (i32.const 1) (i64.const 1))
                           (i64.const -5)))
      (local.set $step (i32.const 5))
      (br_if $fail (i32.ne (call $kv_add (i32.const 3) (i32.const 1)
                                         (i32.const 4) (i32.const 1) (i32.const 60))
                           (i32.const 0)))
      (local.set $step (i32.const 6))
      (br_if $fail (i64.ne (call $kv_incr (i32.const 3) (i32.const 1) (i64.const 2))
                           (i64.const 3)))
      (local.set $step (i32.const 7))
      (br_if $fail (i32.ne (call $kv_delete (i32.const 0) (i32.const 1))
                           (i32.const 0)))
      (local.set $step (i32.const 8))
      (br_if $fail (i32.ne (call $kv_get (i32.const 0) (i32.const 1)
                                         (i32.const 64) (i32.const 16))
                           (i32.const -5)))
      (drop (call $field_set (i32.const 27) (i32.const 16) (i32.const 2)))
      (return (i32.const 1)))
    ;; "fail:" followed by the step's digit (steps are 1..8)
    (i32.store8 (i32.const 37) (i32.add (i32.const 48) (local.get $step)))
    (drop (call $field_set (i32.const 27) (i32.const 32) (i32.const 6)))
    i32.const 1))
