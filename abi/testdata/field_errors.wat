;; The throttle hook provokes four field errors and writes their codes as
;; decimal text "a,b,c,d" into message (27), then returns Done (1):
;;   a = field_get(9999, ...)            unknown field          -> -1
;;   b = field_set(login=12, "x")        read-only in throttle  -> -3
;;   c = field_get(password=13, ...)     not in throttle        -> -2
;;   d = field_get_key(login=12, "x",..) login is not keyed     -> -2
;; Expected message: "-1,-3,-2,-2".
(module
  (import "postern" "field_get" (func $field_get (param i32 i32 i32) (result i32)))
  (import "postern" "field_set" (func $field_set (param i32 i32 i32) (result i32)))
  (import "postern" "field_get_key"
    (func $field_get_key (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "x")            ;; a one-byte value and key
  ;; 64..127: scratch buffer for reads; 256..: the message being built
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)

  ;; $itoa writes $v as signed decimal ASCII at $p; returns the end offset.
  (func $itoa (param $p i32) (param $v i32) (result i32)
    (local $u i32) (local $end i32)
    (if (i32.lt_s (local.get $v) (i32.const 0))
      (then
        (i32.store8 (local.get $p) (i32.const 45))                  ;; '-'
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (local.set $v (i32.sub (i32.const 0) (local.get $v)))))
    ;; count the digits
    (local.set $u (local.get $v))
    (local.set $end (local.get $p))
    (loop $count
      (local.set $end (i32.add (local.get $end) (i32.const 1)))
      (local.set $u (i32.div_u (local.get $u) (i32.const 10)))
      (br_if $count (local.get $u)))
    ;; write them from the right
    (local.set $u (local.get $v))
    (local.set $p (local.get $end))
    (loop $write
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) (i32.rem_u (local.get $u) (i32.const 10))))
      (local.set $u (i32.div_u (local.get $u) (i32.const 10)))
      (br_if $write (local.get $u)))
    (local.get $end))

  (func $comma (param $p i32) (result i32)
    (i32.store8 (local.get $p) (i32.const 44))                      ;; ','
    (i32.add (local.get $p) (i32.const 1)))

  (func (export "postern_hook_throttle") (result i32)
    (local $p i32)
    (local.set $p (i32.const 256))
    (local.set $p (call $itoa (local.get $p)
      (call $field_get (i32.const 9999) (i32.const 64) (i32.const 64))))
    (local.set $p (call $comma (local.get $p)))
    (local.set $p (call $itoa (local.get $p)
      (call $field_set (i32.const 12) (i32.const 0) (i32.const 1))))
    (local.set $p (call $comma (local.get $p)))
    (local.set $p (call $itoa (local.get $p)
      (call $field_get (i32.const 13) (i32.const 64) (i32.const 64))))
    (local.set $p (call $comma (local.get $p)))
    (local.set $p (call $itoa (local.get $p)
      (call $field_get_key (i32.const 12) (i32.const 0) (i32.const 1)
                           (i32.const 64) (i32.const 64))))
    (drop (call $field_set (i32.const 27) (i32.const 256)
                           (i32.sub (local.get $p) (i32.const 256))))
    i32.const 1))
