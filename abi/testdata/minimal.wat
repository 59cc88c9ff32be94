;; The smallest valid Postern plugin: memory and the ABI version marker.
;; It serves no hook, so every chain skips it.
(module
  (memory (export "memory") 1)
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000))
