;; postern_init refuses (1) after setting message to: missing key "servers"
(module
  (import "postern" "field_set" (func $field_set (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "missing key \"servers\"")   ;; 21 bytes
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_init") (result i32)
    (drop (call $field_set (i32.const 27) (i32.const 0) (i32.const 21)))
    i32.const 1)
  (func (export "postern_hook_login") (result i32)
    i32.const 0))
