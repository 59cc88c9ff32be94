;; big_memory: initial memory of 20 pages; a host with a limit below 20
;; pages refuses it at load (ABI.md "Limits": memory pages).
(module
  (memory (export "memory") 20)
  (func (export "postern_abi_version") (result i32) i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32) i32.const 0))
