;; imported_memory: imports its memory instead of defining it: refused
;; (ABI.md "Guest exports": memory is defined by the module).
(module
  (import "env" "memory" (memory 1))
  (export "memory" (memory 0))
  (func (export "postern_abi_version") (result i32) i32.const 0x00010000))
