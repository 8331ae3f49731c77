#![no_main]
//! The login `next=` sanitiser: whatever comes in, a local path comes out.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let out = berth::web::extract::safe_next(Some(s));
        assert!(out.starts_with('/') && !out.starts_with("//") && !out.contains('\\'));
    }
});
