;; request_filter: ABI 1.1 request filters. Init declares only_login = 1,
;; only_paths = "/service/" "/home/" and only_methods = "GET" "POST", and
;; checks that only_protocols refuses "smtp" (ErrInvalid) and that
;; only_paths reads back its 16 bytes; any other result refuses the
;; configuration with message "bad filter". Every hook sets message to
;; "seen" and returns Continue; route_decided logs "event" at info.
(module
  (import "postern" "field_get" (func $field_get (param i32 i32 i32) (result i32)))
  (import "postern" "field_set" (func $field_set (param i32 i32 i32) (result i32)))
  (import "postern" "log"       (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "1")
  (data (i32.const 8) "/service/\00/home/")    ;; 16 bytes
  (data (i32.const 32) "GET\00POST")           ;; 8 bytes
  (data (i32.const 48) "smtp")
  (data (i32.const 56) "seen")
  (data (i32.const 64) "event")
  (data (i32.const 72) "bad filter")           ;; 10 bytes
  (func (export "postern_abi_version") (result i32) i32.const 0x00010001)
  (func $bad (result i32)
    (drop (call $field_set (i32.const 27) (i32.const 72) (i32.const 10)))
    i32.const 1)
  (func (export "postern_init") (result i32)
    (if (call $field_set (i32.const 38) (i32.const 0) (i32.const 1)) (then (return (call $bad))))
    (if (call $field_set (i32.const 41) (i32.const 8) (i32.const 16)) (then (return (call $bad))))
    (if (call $field_set (i32.const 42) (i32.const 32) (i32.const 8)) (then (return (call $bad))))
    (if (i32.ne (call $field_set (i32.const 39) (i32.const 48) (i32.const 4)) (i32.const -4))
      (then (return (call $bad))))
    (if (i32.ne (call $field_get (i32.const 41) (i32.const 1024) (i32.const 64)) (i32.const 16))
      (then (return (call $bad))))
    i32.const 0)
  (func $seen (result i32)
    (drop (call $field_set (i32.const 27) (i32.const 56) (i32.const 4)))
    i32.const 0)
  (func (export "postern_hook_login") (result i32) (call $seen))
  (func (export "postern_hook_throttle") (result i32) (call $seen))
  (func (export "postern_hook_route") (result i32) (call $seen))
  (func (export "postern_hook_rewrite") (result i32) (call $seen))
  (func (export "postern_event_route_decided") (call $log (i32.const 1) (i32.const 64) (i32.const 5))))
