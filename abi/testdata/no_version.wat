;; Not a Postern plugin: no postern_abi_version export. The host must refuse it.
(module
  (memory (export "memory") 1)
  (func (export "postern_hook_login") (result i32)
    i32.const 0))
