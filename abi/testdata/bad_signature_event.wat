;; postern_event_login_failed returns an i32; events are (func). The host
;; must refuse the module at load.
(module
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_event_login_failed") (result i32)
    i32.const 0))
