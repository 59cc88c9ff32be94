;; The login hook returns 42, which is not a verdict.
(module
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32)
    i32.const 42))
