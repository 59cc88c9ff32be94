;; bounds: one host-function call per command letter, each with a range
;; that lies (partly) outside the guest's 1-page (65536-byte) memory, or a
;; zero-length range at a wild pointer. The login hook reads the first byte
;; of login (the command) and makes that call; if the call returns, the hook
;; returns 1 (Done). A conforming host traps the call for every letter
;; a..t except c, e, u and v, whose ranges are valid (ABI.md "Bounds").
(module
  (import "postern" "feature"          (func $feature (param i32 i32) (result i32)))
  (import "postern" "log"              (func $log (param i32 i32 i32)))
  (import "postern" "config_get"       (func $config_get (param i32 i32) (result i32)))
  (import "postern" "field_get"        (func $field_get (param i32 i32 i32) (result i32)))
  (import "postern" "field_set"        (func $field_set (param i32 i32 i32) (result i32)))
  (import "postern" "field_get_key"    (func $field_get_key (param i32 i32 i32 i32 i32) (result i32)))
  (import "postern" "field_set_key"    (func $field_set_key (param i32 i32 i32 i32 i32) (result i32)))
  (import "postern" "field_delete_key" (func $field_delete_key (param i32 i32 i32) (result i32)))
  (import "postern" "kv_get"           (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "postern" "kv_set"           (func $kv_set (param i32 i32 i32 i32 i32) (result i32)))
  (import "postern" "kv_add"           (func $kv_add (param i32 i32 i32 i32 i32) (result i32)))
  (import "postern" "kv_incr"          (func $kv_incr (param i32 i32 i64) (result i64)))
  (import "postern" "kv_delete"        (func $kv_delete (param i32 i32) (result i32)))
  (import "postern" "http_call"        (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "postern" "http_response_get" (func $http_response_get (param i32 i32 i32) (result i32)))
  (import "postern" "counter_add"      (func $counter_add (param i32 i32 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "GET")                               ;; 0..2
  (data (i32.const 16) "http://127.0.0.1:1/")              ;; 16..34 (19 bytes)
  (data (i32.const 64) "X-Key")                            ;; 64..68
  (data (i32.const 80) "bounds:key")                       ;; 80..89 (10 bytes)
  (func (export "postern_abi_version") (result i32) i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32)
    (local $c i32)
    (drop (call $field_get (i32.const 12) (i32.const 1024) (i32.const 1)))
    (local.set $c (i32.load8_u (i32.const 1024)))
    ;; a: field_get into a buffer that crosses the end of memory
    (if (i32.eq (local.get $c) (i32.const 97))
      (then (drop (call $field_get (i32.const 12) (i32.const 65530) (i32.const 100)))))
    ;; b: field_get whose range wraps around 2^32 (0xFFFFFFF0 + 0x20)
    (if (i32.eq (local.get $c) (i32.const 98))
      (then (drop (call $field_get (i32.const 12) (i32.const 0xFFFFFFF0) (i32.const 0x20)))))
    ;; c: a size probe (limit 0) at a wild pointer: valid, buf is not examined
    (if (i32.eq (local.get $c) (i32.const 99))
      (then (drop (call $field_get (i32.const 12) (i32.const 0xFFFFFFF0) (i32.const 0)))))
    ;; d: field_set from a range crossing the end
    (if (i32.eq (local.get $c) (i32.const 100))
      (then (drop (call $field_set (i32.const 27) (i32.const 65530) (i32.const 100)))))
    ;; e: field_set of length 0 at a wild pointer: valid (sets message "")
    (if (i32.eq (local.get $c) (i32.const 101))
      (then (drop (call $field_set (i32.const 27) (i32.const 0xFFFFFFFF) (i32.const 0)))))
    ;; f: log
    (if (i32.eq (local.get $c) (i32.const 102))
      (then (call $log (i32.const 1) (i32.const 65530) (i32.const 100))))
    ;; g: config_get: the whole buffer is checked even when the config is shorter
    (if (i32.eq (local.get $c) (i32.const 103))
      (then (drop (call $config_get (i32.const 65530) (i32.const 100)))))
    ;; h: kv_get key
    (if (i32.eq (local.get $c) (i32.const 104))
      (then (drop (call $kv_get (i32.const 65530) (i32.const 100) (i32.const 1024) (i32.const 16)))))
    ;; i: kv_set value
    (if (i32.eq (local.get $c) (i32.const 105))
      (then (drop (call $kv_set (i32.const 80) (i32.const 10) (i32.const 65530) (i32.const 100) (i32.const 0)))))
    ;; j: field_get_key key
    (if (i32.eq (local.get $c) (i32.const 106))
      (then (drop (call $field_get_key (i32.const 21) (i32.const 65530) (i32.const 100) (i32.const 1024) (i32.const 16)))))
    ;; k: http_call url
    (if (i32.eq (local.get $c) (i32.const 107))
      (then (drop (call $http_call (i32.const 0) (i32.const 3) (i32.const 65530) (i32.const 100)
                                   (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 100)))))
    ;; l: feature name
    (if (i32.eq (local.get $c) (i32.const 108))
      (then (drop (call $feature (i32.const 65530) (i32.const 100)))))
    ;; m: counter_add name
    (if (i32.eq (local.get $c) (i32.const 109))
      (then (call $counter_add (i32.const 65530) (i32.const 100) (i64.const 1))))
    ;; n: kv_get of a missing key into a buffer crossing the end: ranges are
    ;;    checked before anything else, so this traps rather than returning -5
    (if (i32.eq (local.get $c) (i32.const 110))
      (then (drop (call $kv_get (i32.const 80) (i32.const 10) (i32.const 65530) (i32.const 100)))))
    ;; o: kv_incr key
    (if (i32.eq (local.get $c) (i32.const 111))
      (then (drop (call $kv_incr (i32.const 65530) (i32.const 100) (i64.const 1)))))
    ;; p: kv_delete key
    (if (i32.eq (local.get $c) (i32.const 112))
      (then (drop (call $kv_delete (i32.const 65530) (i32.const 100)))))
    ;; q: http_response_get with no response yet, buffer crossing the end
    (if (i32.eq (local.get $c) (i32.const 113))
      (then (drop (call $http_response_get (i32.const 1) (i32.const 65530) (i32.const 100)))))
    ;; r: field_set_key value (the key is valid)
    (if (i32.eq (local.get $c) (i32.const 114))
      (then (drop (call $field_set_key (i32.const 21) (i32.const 64) (i32.const 5) (i32.const 65530) (i32.const 100)))))
    ;; s: field_delete_key key
    (if (i32.eq (local.get $c) (i32.const 115))
      (then (drop (call $field_delete_key (i32.const 21) (i32.const 65530) (i32.const 100)))))
    ;; t: http_call method, with a length far past the end of memory
    (if (i32.eq (local.get $c) (i32.const 116))
      (then (drop (call $http_call (i32.const 0) (i32.const 0x7FFFFFFF) (i32.const 16) (i32.const 19)
                                   (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 100)))))
    ;; u: log of length 0 at a wild pointer: valid
    (if (i32.eq (local.get $c) (i32.const 117))
      (then (call $log (i32.const 1) (i32.const 0xFFFFFFFF) (i32.const 0))))
    ;; v: a range ending exactly at the end of memory: valid
    (if (i32.eq (local.get $c) (i32.const 118))
      (then (drop (call $field_get (i32.const 12) (i32.const 65436) (i32.const 100)))))
    ;; w: field_get of a field not in this hook (upstreams), buffer crossing
    ;;    the end: ranges first, so a trap rather than -2
    (if (i32.eq (local.get $c) (i32.const 119))
      (then (drop (call $field_get (i32.const 24) (i32.const 65530) (i32.const 100)))))
    i32.const 1))
