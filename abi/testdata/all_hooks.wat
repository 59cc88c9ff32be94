;; Exports init, every hook and every event. Each hook writes its own name
;; into message (27) and returns Done (1); route also sets upstreams (24) to
;; two NUL-separated items. Each event logs its name at level 1 (info).
(module
  (import "postern" "field_set" (func $field_set (param i32 i32 i32) (result i32)))
  (import "postern" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0)   "login")                                   ;; 5
  (data (i32.const 16)  "throttle")                                ;; 8
  (data (i32.const 32)  "route")                                   ;; 5
  (data (i32.const 48)  "rewrite")                                 ;; 7
  (data (i32.const 64)  "127.0.0.1:1143\00127.0.0.1:2143")         ;; 29
  (data (i32.const 128) "route_decided")                           ;; 13
  (data (i32.const 144) "login_failed")                            ;; 12
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_init") (result i32)
    i32.const 0)
  (func (export "postern_hook_login") (result i32)
    (drop (call $field_set (i32.const 27) (i32.const 0) (i32.const 5)))
    i32.const 1)
  (func (export "postern_hook_throttle") (result i32)
    (drop (call $field_set (i32.const 27) (i32.const 16) (i32.const 8)))
    i32.const 1)
  (func (export "postern_hook_route") (result i32)
    (drop (call $field_set (i32.const 27) (i32.const 32) (i32.const 5)))
    (drop (call $field_set (i32.const 24) (i32.const 64) (i32.const 29)))
    i32.const 1)
  (func (export "postern_hook_rewrite") (result i32)
    (drop (call $field_set (i32.const 27) (i32.const 48) (i32.const 7)))
    i32.const 1)
  (func (export "postern_event_route_decided")
    (call $log (i32.const 1) (i32.const 128) (i32.const 13)))
  (func (export "postern_event_login_failed")
    (call $log (i32.const 1) (i32.const 144) (i32.const 12))))
