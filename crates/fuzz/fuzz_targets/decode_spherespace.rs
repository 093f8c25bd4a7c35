//! The spherespace socket decoder on arbitrary bytes: a frame or a typed error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = chatwire_protocol::spherespace::decode(text);
    }
});
