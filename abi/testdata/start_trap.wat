;; The WebAssembly start function traps, so instantiation fails. The load
;; (or reload) must fail.
(module
  (memory (export "memory") 1)
  (func $start
    unreachable)
  (start $start)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32)
    i32.const 0))
