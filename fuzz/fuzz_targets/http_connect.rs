#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| azml_ssh::fuzzing::http_connect(data));
