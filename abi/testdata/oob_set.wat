;; field_set(message, 65530, 100): the value range crosses the end of the
;; 1-page (65536-byte) memory. The host must trap the call.
(module
  (import "postern" "field_set" (func $field_set (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32)
    (drop (call $field_set (i32.const 27) (i32.const 65530) (i32.const 100)))
    i32.const 1))
