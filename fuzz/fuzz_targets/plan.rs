#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tenantgate::fuzzing::plan(data);
});
