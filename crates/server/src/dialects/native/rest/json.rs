//! The JSON body extractor of the native API: `web::Json` (its size limit, content type and
//! error shape), read leniently in one way JSON Schema allows: a number written with a zero
//! fraction (`5.0`, as Python's `json.dumps` writes a float) is an integer.
use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let mut value = value.await?.into_inner();
            // Every body of this API is an object; serde would also read a struct from an array.
            if !value.is_object() {
                return Err(ApiError::bad_request("invalid", "the body must be a JSON object").into());
            }
            integral_floats_to_integers(&mut value);
            serde_json::from_value(value)
                .map(Json)
                .map_err(|e| ApiError::bad_request("invalid", format!("Json deserialize error: {e}")).into())
        })
    }
}

/// `bytes` as `T`, read as the extractor reads a body.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes)?;
    integral_floats_to_integers(&mut value);
    serde_json::from_value(value)
}

fn integral_floats_to_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) => {
            // Only where a float holds every integer exactly (|f| <= 2^53): a larger one may be
            // a rounded value out of any integer type's range, and stays a float (and an error).
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0)
            {
                *n = serde_json::Number::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn integral_floats_become_integers_and_nothing_else_changes() {
        let mut v = json!({"a": 5.0, "b": [1.5, -316.0], "c": "7.0", "d": 1e300, "e": -9.3e18});
        super::integral_floats_to_integers(&mut v);
        assert_eq!(v, json!({"a": 5, "b": [1.5, -316], "c": "7.0", "d": 1e300, "e": -9.3e18}));
        assert!(v["a"].is_i64());
    }
}
