//! Every dialect's decoder on hostile input: arbitrary text, arbitrary JSON, and documented
//! frames with fields swapped for arbitrary values. None may panic; each answers a frame or a
//! typed error. (The ordinary test run's share of what `crates/fuzz` does with cargo fuzz.)
use chatwire_protocol::{dotted, native, rooms, spherespace, threads};
use proptest::prelude::*;
use serde_json::{Value, json};

fn decode_all(text: &str) {
    let _ = native::decode(text);
    let _ = dotted::decode(text);
    let _ = spherespace::decode(text);
    let _ = threads::decode(text);
    let _ = rooms::decode(text);
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::hash_map(".{0,12}", inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One documented frame of each dialect, to mutate.
fn frames() -> Vec<Value> {
    vec![
        json!({"type": "send", "ref": "r", "conversation_id": 7, "content": "hi", "client_key": "k"}),
        json!({"type": "resume", "cursors": [{"conversation_id": 7, "seq": 1}]}),
        json!({"type": "refresh", "token": "t"}),
        json!({"type": "chat.message", "conversation_id": 123, "content": "Hello!"}),
        json!({"type": "chat.delivered", "message_id": 789}),
        json!({"type": "chat_message", "conversation_id": "63686174-0000-8001-8000-000000000007", "content": "Hi!"}),
        json!({"action": "chat_message", "message_body": "hi", "receiver_id": 5}),
        json!({"type": "message", "content": "Hello", "temp_id": "temp_1"}),
        json!({"type": "mark_read", "message_id": 456, "timestamp": "t"}),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,512}") {
        decode_all(&text);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        decode_all(&value.to_string());
    }

    #[test]
    fn documented_frames_with_any_field_value_never_panic(which in 0usize..9, key in 0usize..6, value in json_value()) {
        let mut frame = frames()[which].clone();
        let keys: Vec<String> = frame.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        let key = keys[key % keys.len()].clone();
        frame[key] = value;
        decode_all(&frame.to_string());
    }

    #[test]
    fn deeply_nested_json_is_refused_without_a_stack_overflow(depth in 100usize..2000) {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        decode_all(&text);
        let object = format!("{}1{}", r#"{"type":"#.repeat(depth), "}".repeat(depth));
        decode_all(&object);
    }
}
