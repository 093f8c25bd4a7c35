//! The token parser on arbitrary bytes: never a panic, and nothing unsigned is ever accepted.
#![no_main]
use std::sync::LazyLock;

use chatwire_server::auth::{TokenRules, Verifier};
use chatwire_server::config::JwtKey;
use libfuzzer_sys::fuzz_target;

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    Verifier::new(&[JwtKey::Secret(b"fuzz".to_vec())], TokenRules::default()).expect("an HS256 verifier")
});

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        assert!(VERIFIER.verify(token).is_err(), "a token the fuzzer made up was accepted: {token}");
    }
});
