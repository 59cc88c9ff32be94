;; command: a WASI command (exports _start, no _initialize). Its exports may
;; not work before _start, which runs main and exits, and the host never
;; calls _start: the host refuses it at load, naming _start (ABI.md "Guest
;; exports"). lifecycle.wat exports _start beside _initialize and loads.
(module
  (memory (export "memory") 1)
  (func (export "_start"))
  (func (export "postern_abi_version") (result i32) i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32) i32.const 0))
