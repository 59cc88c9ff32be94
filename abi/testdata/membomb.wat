;; Memory with 1 initial page and no maximum. The login hook grows memory one
;; page at a time until memory.grow returns -1 (the host's page limit), then
;; traps. The host test checks the memory stayed within the limit.
(module
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32)
    (block $full
      (loop $grow
        (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $grow)))
    unreachable))
