;; Login hook for the metrics tests: counter_add("lookups", 1), then
;; Continue (0), so the next plugin of the chain runs.
;; Built with: wat2wasm counter.wat -o counter.wasm
(module
  (import "postern" "counter_add" (func $counter_add (param i32 i32 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "lookups")
  (func (export "postern_abi_version") (result i32)
    i32.const 0x00010000)
  (func (export "postern_hook_login") (result i32)
    (call $counter_add (i32.const 0) (i32.const 7) (i64.const 1))
    i32.const 0))
