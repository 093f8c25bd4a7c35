//! Wire formats, free of IO: each dialect's frames with pure `decode` and `encode`, shared by the
//! server, the load generator and the tests.
pub mod django_messaging;
pub mod dotted;
pub mod native;
pub mod rooms;
pub mod spherespace;
pub mod threads;

/// Why an incoming frame was refused; the socket answers with an error frame and stays open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("frame is not valid JSON: {0}")]
    Malformed(String),
    #[error("unknown frame type `{0}`")]
    UnknownType(String),
    #[error("frame `{frame_type}` is invalid: {reason}")]
    Invalid { frame_type: String, reason: String },
}

impl DecodeError {
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Malformed(_) => "malformed_frame",
            DecodeError::UnknownType(_) => "unknown_type",
            DecodeError::Invalid { .. } => "invalid_frame",
        }
    }

    /// The frame type the client sent, when it could be read.
    pub fn frame_type(&self) -> Option<&str> {
        match self {
            DecodeError::Malformed(_) => None,
            DecodeError::UnknownType(t) => Some(t),
            DecodeError::Invalid { frame_type, .. } => Some(frame_type),
        }
    }
}

/// Reads `type` first, so an unknown type and a bad field get different, precise errors.
pub fn decode_tagged<T: serde::de::DeserializeOwned>(
    text: &str,
    tag: &str,
    known: &[&str],
) -> Result<(String, T), DecodeError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let frame_type = match value.get(tag) {
        Some(serde_json::Value::String(t)) => t.clone(),
        _ => return Err(DecodeError::Malformed(format!("missing string field `{tag}`"))),
    };
    if !known.contains(&frame_type.as_str()) {
        return Err(DecodeError::UnknownType(frame_type));
    }
    let frame = serde_json::from_value(value)
        .map_err(|e| DecodeError::Invalid { frame_type: frame_type.clone(), reason: e.to_string() })?;
    Ok((frame_type, frame))
}
