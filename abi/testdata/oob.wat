;; field_get(login, 0xFFFFFF00, 1024): the buffer lies past the end of the
;; 1-page memory. The host must trap the call; the "return 1" is never reached.
(module
  (import "postern" "field_get" (func $field_get (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32)
    (drop (call $field_get (i32.const 12) (i32.const 0xFFFFFF00) (i32.const 1024)))
    i32.const 1))
