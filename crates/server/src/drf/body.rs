//! Reading a request body the way Django views do: JSON, a urlencoded form, or multipart form
//! data, whichever the content type says. Each dialect renders the failure in its own shape.
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

/// The largest body read.
pub const LIMIT: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body too large")]
    TooLarge,
    #[error("{0}")]
    Invalid(String),
}

pub async fn read<T: DeserializeOwned>(req: &HttpRequest, payload: web::Payload) -> Result<T, BodyError> {
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    if content_type.starts_with("multipart/form-data") {
        let mut form = actix_multipart::Multipart::new(req.headers(), payload);
        let mut fields = serde_json::Map::new();
        let mut size = 0usize;
        while let Some(field) = form.next().await {
            let mut field = field.map_err(|e| BodyError::Invalid(e.to_string()))?;
            let name = field.name().unwrap_or_default().to_owned();
            let mut value = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| BodyError::Invalid(e.to_string()))?;
                size += chunk.len();
                if size > LIMIT {
                    return Err(BodyError::TooLarge);
                }
                value.extend_from_slice(&chunk);
            }
            fields.insert(name, String::from_utf8_lossy(&value).into_owned().into());
        }
        return serde_json::from_value(fields.into()).map_err(|e| BodyError::Invalid(e.to_string()));
    }
    let bytes = payload.to_bytes_limited(LIMIT).await.map_err(|_| BodyError::TooLarge)?;
    let bytes = bytes.map_err(|e| BodyError::Invalid(e.to_string()))?;
    if content_type.starts_with("application/json") || (content_type.is_empty() && bytes.first() == Some(&b'{')) {
        serde_json::from_slice(&bytes).map_err(|e| BodyError::Invalid(format!("JSON parse error - {e}")))
    } else {
        serde_urlencoded::from_bytes(&bytes).map_err(|e| BodyError::Invalid(e.to_string()))
    }
}
