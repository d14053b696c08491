#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| azml_ssh::fuzzing::ws_frames(data));
