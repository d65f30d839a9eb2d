#![no_main]
#[path = "../checks/bundle_verify.rs"]
mod check;
libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
