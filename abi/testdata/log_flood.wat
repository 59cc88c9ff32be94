;; The login hook logs "flood" at level 1 (info) 10000 times, then returns
;; Continue (0). The host must rate-limit and count the dropped lines.
(module
  (import "postern" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "flood")
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32)
    (local $i i32)
    (loop $again
      (call $log (i32.const 1) (i32.const 0) (i32.const 5))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 10000))))
    i32.const 0))
