//! The document dialects, each walked end to end with users on different nodes.
pub mod cross;
pub mod django_messaging;
pub mod rooms;
pub mod dotted;
pub mod spherespace;
pub mod threads;

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

/// Asserts `frame` has exactly the keys of the document's `example`.
pub fn assert_shape(frame: &Value, example: &str) {
    let example: Value = serde_json::from_str(example).expect("the example is JSON");
    assert_eq!(shape(frame), shape(&example), "frame {frame} differs in shape from the document's {example}");
}
