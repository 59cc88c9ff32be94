;; Declares ABI 2.0 (0x00020000). A v1 host must refuse it: unknown major.
(module
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00020000))
