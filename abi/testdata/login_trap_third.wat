;; Login and route hooks that continue on an instance's first two calls and
;; trap on its third (a "bad version" for the safe-swap tests). A trap
;; discards the instance, so its replacement fails on its third call too:
;; one call in three fails.
(module
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (func $count (result i32)
    global.get $calls
    i32.const 1
    i32.add
    global.set $calls
    global.get $calls
    i32.const 3
    i32.ge_u
    if
      unreachable
    end
    i32.const 0)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32)
    call $count)
  (func (export "postern_hook_route") (result i32)
    call $count))
