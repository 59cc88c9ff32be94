;; field_set(message, 0, 70000): in bounds of the 2-page memory but over
;; MaxFieldBytes (65536). Returns Done (1) when field_set returned -7
;; (ErrTooLarge), else 99 (an invalid verdict), so the host test sees what
;; the guest observed.
(module
  (import "postern" "field_set" (func $field_set (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32)
    (select (i32.const 1) (i32.const 99)
      (i32.eq (call $field_set (i32.const 27) (i32.const 0) (i32.const 70000))
              (i32.const -7)))))
