;; init_bad_result: postern_init returns 7, neither 0 (ok) nor 1 (refuse):
;; a failure like a trap, so the load fails (ABI.md "Guest exports").
(module
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32) i32.const 0x00010000)
  (func (export "postern_init") (result i32) i32.const 7)
  (func (export "postern_hook_login") (result i32) i32.const 0))
