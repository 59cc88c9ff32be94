;; maintenance: the smallest useful Postern plugin, in hand-written WAT.
;; While it is in the chain, every login and request is refused at the
;; throttle hook with the message below; take it out of postern.yaml (or
;; replace the file) to end the maintenance window. To change the message,
;; edit the data segment and its length (36) and rebuild:
;;
;;   wat2wasm maintenance.wat -o maintenance.wasm
(module
  (import "postern" "field_set" (func $field_set (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "down for maintenance, back by 06:00Z")
  (func (export "postern_abi_version") (result i32) i32.const 0x00010000) ;; ABI 1.0
  (func (export "postern_hook_throttle") (result i32)
    (drop (call $field_set (i32.const 27) (i32.const 0) (i32.const 36)))   ;; message
    i32.const 2))                                                          ;; Refuse
