;; A valid version marker but no exported memory (the module has a memory,
;; it just does not export it as "memory"). The host must refuse it.
(module
  (memory 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000))
