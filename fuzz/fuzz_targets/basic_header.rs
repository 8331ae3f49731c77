#![no_main]
//! The `Authorization: Basic` parser of `/token`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = berth::registry::endpoint::parse_basic(data);
});
