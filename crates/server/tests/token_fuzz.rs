//! The token parser on hostile input: arbitrary text, and three dot-separated base64 parts
//! whose header and claims are arbitrary JSON. Never a panic, never an accepted token.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a fuzz test fails loudly on purpose")]
use chatwire_server::auth::{TokenRules, Verifier};
use chatwire_server::config::JwtKey;
use proptest::prelude::*;

fn b64(bytes: &[u8]) -> String {
    // URL-safe base64 without padding, as JWTs use.
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn verifier() -> Verifier {
    Verifier::new(&[JwtKey::Secret(b"fuzz".to_vec())], TokenRules::default()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_is_refused(text in ".{0,300}") {
        prop_assert!(verifier().verify(&text).is_err());
    }

    #[test]
    fn arbitrary_headers_and_claims_are_refused(
        alg in prop_oneof![Just("HS256".to_owned()), Just("none".to_owned()), Just("RS256".to_owned()), ".{0,8}"],
        claims in ".{0,200}",
        signature in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let header = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
        let token = format!("{header}.{}.{}", b64(claims.as_bytes()), b64(&signature));
        prop_assert!(verifier().verify(&token).is_err());
    }
}
