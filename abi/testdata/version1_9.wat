;; Declares ABI 1.9 (0x00010009). Minor versions only add things, so a 1.0
;; host must load it; its login hook returns Continue (0).
(module
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010009)
  (func (export "postern_hook_login") (result i32)
    i32.const 0))
