;; verdicts: each hook returns the verdict whose number is the first byte
;; of login minus '0' ("0".."4" valid, "5" and "9" invalid; "-" returns -1).
;; Before returning it sets message to "seen". Events log "event".
(module
  (import "postern" "field_get" (func $field_get (param i32 i32 i32) (result i32)))
  (import "postern" "field_set" (func $field_set (param i32 i32 i32) (result i32)))
  (import "postern" "log"       (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "seen")
  (data (i32.const 8) "event")
  (func (export "postern_abi_version") (result i32) i32.const 0x00010000)
  (func $verdict (result i32)
    (drop (call $field_get (i32.const 12) (i32.const 1024) (i32.const 1)))
    (drop (call $field_set (i32.const 27) (i32.const 0) (i32.const 4)))
    (if (i32.eq (i32.load8_u (i32.const 1024)) (i32.const 45)) (then (return (i32.const -1))))
    (i32.sub (i32.load8_u (i32.const 1024)) (i32.const 48)))
  (func (export "postern_hook_login") (result i32) (call $verdict))
  (func (export "postern_hook_throttle") (result i32) (call $verdict))
  (func (export "postern_hook_route") (result i32) (call $verdict))
  (func (export "postern_hook_rewrite") (result i32) (call $verdict))
  (func (export "postern_event_route_decided") (call $log (i32.const 1) (i32.const 8) (i32.const 5)))
  (func (export "postern_event_login_failed") (call $log (i32.const 1) (i32.const 8) (i32.const 5))))
