;; response: ABI 1.1 response hook and fields response_status (46) and
;; response_header (47). The response hook, on a 302 with Location, Server
;; and Set-Cookie headers: sets message to the status, replaces Location
;; with "https://mail.example.com/app/login", deletes Server (then again:
;; ErrNotFound), sets X-Added: yes, appends the cookie "c=3" to the
;; Set-Cookie list, and checks that the request headers are read-only,
;; the password unavailable, a NUL outside Set-Cookie invalid and the
;; status read-only; it returns Done (1), or 100+N when check N failed.
;; On a status starting with "5" it sets X-Added, then traps: the call
;; fails and its writes must be undone. The rewrite hook checks that both
;; fields are unavailable there (Continue, or 100+N); the login hook that
;; response_status is unavailable in a mail session.
(module
  (import "postern" "field_get"        (func $field_get (param i32 i32 i32) (result i32)))
  (import "postern" "field_set"        (func $field_set (param i32 i32 i32) (result i32)))
  (import "postern" "field_get_key"    (func $get_key (param i32 i32 i32 i32 i32) (result i32)))
  (import "postern" "field_set_key"    (func $set_key (param i32 i32 i32 i32 i32) (result i32)))
  (import "postern" "field_delete_key" (func $del_key (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "Location")                              ;; 8
  (data (i32.const 16) "https://mail.example.com/app/login")   ;; 34
  (data (i32.const 64) "Server")                               ;; 6
  (data (i32.const 72) "X-Added")                              ;; 7
  (data (i32.const 80) "yes")                                  ;; 3
  (data (i32.const 88) "Set-Cookie")                           ;; 10
  (data (i32.const 104) "\00c=3")                              ;; 4
  (data (i32.const 112) "X-Late")                              ;; 6
  (data (i32.const 120) "X-Bad")                               ;; 5
  (data (i32.const 128) "a\00b")                               ;; 3
  (global $fail (mut i32) (i32.const 0))
  (func (export "postern_abi_version") (result i32) i32.const 0x00010001)
  ;; $expect records check n as failed when got != want (the first only).
  (func $expect (param $got i32) (param $want i32) (param $n i32)
    (if (i32.and (i32.ne (local.get $got) (local.get $want)) (i32.eqz (global.get $fail)))
      (then (global.set $fail (local.get $n)))))
  (func $result (param $ok i32) (result i32)
    (if (result i32) (global.get $fail)
      (then (i32.add (i32.const 100) (global.get $fail)))
      (else (local.get $ok))))
  (func (export "postern_hook_response") (result i32)
    (local $n i32) (local $c i32)
    (global.set $fail (i32.const 0))
    (local.set $n (call $field_get (i32.const 46) (i32.const 1024) (i32.const 16)))
    (call $expect (local.get $n) (i32.const 3) (i32.const 1))
    (if (i32.eq (i32.load8_u (i32.const 1024)) (i32.const 53))       ;; '5': write, then trap
      (then
        (drop (call $set_key (i32.const 47) (i32.const 72) (i32.const 7) (i32.const 80) (i32.const 3)))
        unreachable))
    (call $expect (call $field_set (i32.const 27) (i32.const 1024) (local.get $n)) (i32.const 0) (i32.const 2))
    (call $expect (i32.gt_s (call $get_key (i32.const 47) (i32.const 0) (i32.const 8) (i32.const 1100) (i32.const 256)) (i32.const 0))
      (i32.const 1) (i32.const 3))
    (call $expect (call $set_key (i32.const 47) (i32.const 0) (i32.const 8) (i32.const 16) (i32.const 34)) (i32.const 0) (i32.const 4))
    (call $expect (call $del_key (i32.const 47) (i32.const 64) (i32.const 6)) (i32.const 0) (i32.const 5))
    (call $expect (call $del_key (i32.const 47) (i32.const 64) (i32.const 6)) (i32.const -5) (i32.const 6))
    (call $expect (call $set_key (i32.const 47) (i32.const 72) (i32.const 7) (i32.const 80) (i32.const 3)) (i32.const 0) (i32.const 7))
    (local.set $c (call $get_key (i32.const 47) (i32.const 88) (i32.const 10) (i32.const 2048) (i32.const 500)))
    (call $expect (i32.and (i32.gt_s (local.get $c) (i32.const 0)) (i32.le_s (local.get $c) (i32.const 496)))
      (i32.const 1) (i32.const 8))
    (if (i32.eqz (global.get $fail))
      (then
        (memory.copy (i32.add (i32.const 2048) (local.get $c)) (i32.const 104) (i32.const 4))
        (call $expect (call $set_key (i32.const 47) (i32.const 88) (i32.const 10) (i32.const 2048) (i32.add (local.get $c) (i32.const 4)))
          (i32.const 0) (i32.const 9))))
    (call $expect (call $set_key (i32.const 21) (i32.const 112) (i32.const 6) (i32.const 80) (i32.const 3)) (i32.const -3) (i32.const 10))
    (call $expect (call $field_get (i32.const 13) (i32.const 1024) (i32.const 16)) (i32.const -2) (i32.const 11))
    (call $expect (call $set_key (i32.const 47) (i32.const 120) (i32.const 5) (i32.const 128) (i32.const 3)) (i32.const -4) (i32.const 12))
    (call $expect (call $field_set (i32.const 46) (i32.const 1024) (i32.const 3)) (i32.const -3) (i32.const 13))
    (call $result (i32.const 1)))
  (func (export "postern_hook_rewrite") (result i32)
    (global.set $fail (i32.const 0))
    (call $expect (call $field_get (i32.const 46) (i32.const 1024) (i32.const 16)) (i32.const -2) (i32.const 1))
    (call $expect (call $set_key (i32.const 47) (i32.const 72) (i32.const 7) (i32.const 80) (i32.const 3)) (i32.const -2) (i32.const 2))
    (call $expect (call $get_key (i32.const 47) (i32.const 0) (i32.const 8) (i32.const 1100) (i32.const 256)) (i32.const -2) (i32.const 3))
    (call $result (i32.const 0)))
  (func (export "postern_hook_login") (result i32)
    (global.set $fail (i32.const 0))
    (call $expect (call $field_get (i32.const 46) (i32.const 1024) (i32.const 16)) (i32.const -2) (i32.const 1))
    (call $result (i32.const 0))))
