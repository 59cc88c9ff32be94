;; lifecycle: the order of one instance's calls (ABI.md "Overview" and
;; "Guest exports"). _initialize sets $stage to 1; postern_init requires
;; stage 1 (else returns 7, an invalid init result) and sets it to 2. The
;; login hook returns Done (1) when stage is 2, else Refuse (2). _start
;; exists and traps: a host never calls it. An unknown export
;; ("postern_hook_x") and toolchain exports ("malloc") are ignored.
(module
  (memory (export "memory") 1)
  (global $stage (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $stage (i32.const 1)))
  (func (export "_start") unreachable)
  (func (export "malloc") (param i32) (result i32) i32.const 0)
  (func (export "postern_hook_x") (result i32) unreachable)
  (func (export "postern_abi_version") (result i32) i32.const 0x00010000)
  (func (export "postern_init") (result i32)
    (if (i32.ne (global.get $stage) (i32.const 1)) (then (return (i32.const 7))))
    (global.set $stage (i32.const 2))
    i32.const 0)
  (func (export "postern_hook_login") (result i32)
    (select (i32.const 1) (i32.const 2) (i32.eq (global.get $stage) (i32.const 2)))))
