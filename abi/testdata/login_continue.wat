;; Login and route hooks that always continue (a "good version" for the
;; safe-swap tests: host/plugin swapwatch_test.go, host/cmd/postern).
(module
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32)
    i32.const 0)
  (func (export "postern_hook_route") (result i32)
    i32.const 0))
