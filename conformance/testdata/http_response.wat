;; http_response: the life of an http_call response (ABI.md "http_call",
;; "http_response_get"). The configuration is a URL on the test server
;; whose path answers 200 with the 8-byte body "hello x=", and the plugin's
;; allowlist holds it. The login hook runs checks a..e, sets message to
;; "ok" or "fail:<letter>" and returns Done.
(module
  (import "postern" "config_get" (func $config_get (param i32 i32) (result i32)))
  (import "postern" "field_set"  (func $field_set (param i32 i32 i32) (result i32)))
  (import "postern" "http_call"  (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "postern" "http_response_get" (func $http_response_get (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "ok")
  (data (i32.const 16) "fail:?")
  (data (i32.const 32) "GET")
  (data (i32.const 48) "http://192.0.2.1:1/")             ;; 19 bytes, not allowed
  (global $failed (mut i32) (i32.const 0))
  (func (export "postern_abi_version") (result i32) i32.const 0x00010000)
  (func $check (param $ok i32) (param $step i32)
    (if (i32.and (i32.eqz (local.get $ok)) (i32.eqz (global.get $failed)))
      (then (global.set $failed (local.get $step)))))
  (func (export "postern_hook_login") (result i32)
    (local $n i32)
    (local.set $n (call $config_get (i32.const 1024) (i32.const 1024)))
    ;; a: no response before any http_call: ErrNotAvailable
    (call $check (i32.eq (call $http_response_get (i32.const 1) (i32.const 4096) (i32.const 64)) (i32.const -2)) (i32.const 97))
    ;; b: the allowed URL answers 200
    (call $check (i32.eq (call $http_call (i32.const 32) (i32.const 3) (i32.const 1024) (local.get $n)
                                          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 2000))
                         (i32.const 200)) (i32.const 98))
    ;; c: the body is kept: a probe returns its length, then it can be read
    (call $check (i32.eq (call $http_response_get (i32.const 1) (i32.const 0) (i32.const 0)) (i32.const 8)) (i32.const 99))
    (call $check (i32.eq (call $http_response_get (i32.const 1) (i32.const 4096) (i32.const 8)) (i32.const 8)) (i32.const 99))
    (call $check (i32.eq (i32.load8_u (i32.const 4096)) (i32.const 104)) (i32.const 99))           ;; 'h'
    ;; d: an unknown part is ErrInvalid
    (call $check (i32.eq (call $http_response_get (i32.const 7) (i32.const 4096) (i32.const 8)) (i32.const -4)) (i32.const 100))
    ;; e: a failed http_call (denied) discards the previous response
    (call $check (i32.eq (call $http_call (i32.const 32) (i32.const 3) (i32.const 48) (i32.const 19)
                                          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 2000))
                         (i32.const -8)) (i32.const 101))
    (call $check (i32.eq (call $http_response_get (i32.const 1) (i32.const 4096) (i32.const 8)) (i32.const -2)) (i32.const 101))
    (if (i32.eqz (global.get $failed))
      (then (drop (call $field_set (i32.const 27) (i32.const 0) (i32.const 2))))
      (else
        (i32.store8 (i32.const 21) (global.get $failed))
        (drop (call $field_set (i32.const 27) (i32.const 16) (i32.const 6)))))
    i32.const 1))
