#![no_main]
//! The personal access token format check (prefix, length, alphabet, CRC32).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(t) = berth::tokens::PlainToken::parse(s) {
            assert_eq!(t.expose(), s);
        }
    }
});
