#![no_main]
#[path = "../checks/state_decode.rs"]
mod check;
libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
