;; postern_hook_route has the wrong signature: (param i32) (result i32)
;; instead of (result i32). The host must refuse the module at load.
(module
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_route") (param i32) (result i32)
    i32.const 0))
