#![no_main]
//! The registry scope grammar and Docker's repository-name grammar.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(r) = berth::registry::grants::parse_scope(s) {
            assert!(!r.kind.is_empty() && !r.name.is_empty());
            let _ = berth::registry::grants::valid_repository_name(&r.name);
        }
    }
});
