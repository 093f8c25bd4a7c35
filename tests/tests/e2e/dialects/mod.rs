//! The document dialects, each walked end to end with users on different nodes.
pub mod cross;
pub mod django_messaging;
pub mod dotted;
pub mod rooms;
pub mod spherespace;
pub mod threads;

use std::collections::BTreeMap;

use serde_json::Value;

/// Every key path in a JSON value (`message.sender.id`, `results[].username`, ...): the shape a
/// frame must share with the document's example, whatever the values.
pub fn shape(v: &Value) -> Vec<String> {
    fn walk(v: &Value, path: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    out.push(p.clone());
                    walk(v, &p, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, &format!("{path}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out.sort();
    out.dedup();
    out
}

/// Whether a key names an id: `id`, `*_id`, `user__id`, and the documents' foreign keys.
fn is_id_key(key: &str) -> bool {
    let key = key.trim_end_matches("[]");
    key == "id"
        || key.ends_with("_id")
        || key.ends_with("__id")
        || ["room", "chat", "thread", "users", "read_by", "admins", "updated_by"].contains(&key)
}

/// The JSON type of every id the value holds, by key path (`results[].sender.id` -> `number`).
pub fn id_types(v: &Value) -> BTreeMap<String, &'static str> {
    fn walk(v: &Value, path: &str, key: &str, out: &mut BTreeMap<String, &'static str>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    walk(v, &p, k, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, &format!("{path}[]"), key, out);
                }
            }
            Value::Number(_) if is_id_key(key) => {
                out.entry(path.to_owned()).or_insert("number");
            }
            Value::String(_) if is_id_key(key) => {
                out.entry(path.to_owned()).or_insert("string");
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(v, "", "", &mut out);
    out
}

/// Asserts `frame` has exactly the keys of the document's `example`, and that every id the
/// example shows as a JSON integer is a JSON integer in the frame too (real clients parse them
/// `as int`). Ids the example shows as strings are left to each test: a user's id takes the type
/// the identity provider gave it.
pub fn assert_shape(frame: &Value, example: &str) {
    let example: Value = serde_json::from_str(example).expect("the example is JSON");
    assert_eq!(shape(frame), shape(&example), "frame {frame} differs in shape from the document's {example}");
    let actual = id_types(frame);
    for (path, ty) in id_types(&example) {
        if ty == "number"
            && let Some(got) = actual.get(&path)
        {
            assert_eq!(*got, "number", "`{path}` is an integer in the document but not in {frame}");
        }
    }
}
