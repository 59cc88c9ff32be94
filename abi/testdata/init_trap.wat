;; postern_init traps. The load (or reload) must fail.
(module
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_init") (result i32)
    unreachable)
  (func (export "postern_hook_login") (result i32)
    i32.const 0))
