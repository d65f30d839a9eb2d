#![no_main]
#[path = "../checks/group_control.rs"]
mod check;
libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
