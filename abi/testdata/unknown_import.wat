;; Imports a host function the host does not define. The host must refuse
;; the module at load, naming the import.
(module
  (import "postern" "no_such_function" (func $nope))
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32)
    (call $nope)
    i32.const 0))
