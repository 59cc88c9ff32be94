;; version0_1: postern_abi_version returns 1 (ABI 0.1): an unknown major
;; version, refused at load (ABI.md "Versioning").
(module
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32) i32.const 0x00000001)
  (func (export "postern_hook_login") (result i32) i32.const 0))
