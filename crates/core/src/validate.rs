//! Input rules shared by every dialect.
use crate::error::{CoreError, CoreResult};
use crate::model::NewMessage;

/// Limits that are settings, not constants (the rooms document's MESSAGE_SIZE_LIMIT is one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest message content, in characters (Unicode scalar values), as the rooms document counts.
    pub max_message_chars: usize,
    pub max_title_chars: usize,
    pub max_client_key_chars: usize,
    pub max_group_members: usize,
    pub max_page: i64,
    /// The most messages an API that returns "the whole history" in one answer gets: the newest.
    pub max_history: i64,
    /// The most cursors one resume or sync may carry.
    pub max_cursors: usize,
    /// Sends per second one user may make on one node (sustained; 0: no limit), and the burst.
    pub send_rate: u32,
    pub send_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_chars: 1000,
            max_title_chars: 200,
            max_client_key_chars: 128,
            max_group_members: 1000,
            max_page: 200,
            max_history: 1000,
            max_cursors: 10_000,
            send_rate: 20,
            send_burst: 100,
        }
    }
}

/// Postgres text cannot hold NUL, so no stored text may contain it.
pub fn no_nul(field: &'static str, text: &str) -> CoreResult<()> {
    if text.contains('\0') {
        return Err(CoreError::invalid(field, "must not contain NUL (\\u0000) characters"));
    }
    Ok(())
}

pub fn message_content(limits: &Limits, content: &str, has_attachment: bool) -> CoreResult<()> {
    no_nul("content", content)?;
    if content.trim().is_empty() && !has_attachment {
        return Err(CoreError::invalid("content", "must not be empty"));
    }
    if content.chars().count() > limits.max_message_chars {
        return Err(CoreError::TooLong { field: "content", max: limits.max_message_chars });
    }
    Ok(())
}

pub fn new_message(limits: &Limits, msg: &NewMessage) -> CoreResult<()> {
    message_content(limits, &msg.content, msg.attachment.is_some())?;
    if let Some(key) = &msg.client_key
        && (key.is_empty() || key.chars().count() > limits.max_client_key_chars)
    {
        return Err(CoreError::invalid(
            "client_key",
            format!("must be 1 to {} characters", limits.max_client_key_chars),
        ));
    }
    if let Some(key) = &msg.client_key {
        no_nul("client_key", key)?;
    }
    if let Some(att) = &msg.attachment {
        no_nul("attachment.url", &att.url)?;
        no_nul("attachment.name", &att.name)?;
        no_nul("attachment.mime", &att.mime)?;
        if att.url.is_empty() {
            return Err(CoreError::invalid("attachment.url", "must not be empty"));
        }
        if att.size < 0 {
            return Err(CoreError::invalid("attachment.size", "must not be negative"));
        }
    }
    Ok(())
}

/// Bytes a server event's data may take as JSON: what one socket frame may carry.
pub const MAX_SERVER_EVENT_BYTES: usize = 64 * 1024;

/// A server event's name (`order.shipped`) and its data.
pub fn server_event(name: &str, data: &serde_json::Value) -> CoreResult<()> {
    let name_ok = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if !name_ok {
        return Err(CoreError::invalid("event", "must be 1 to 64 letters, digits, '_', '.', ':' or '-'"));
    }
    let size = serde_json::to_vec(data).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_SERVER_EVENT_BYTES {
        return Err(CoreError::invalid("data", format!("must be at most {MAX_SERVER_EVENT_BYTES} bytes as JSON")));
    }
    Ok(())
}

pub fn title(limits: &Limits, title: &str) -> CoreResult<()> {
    no_nul("title", title)?;
    if title.chars().count() > limits.max_title_chars {
        return Err(CoreError::TooLong { field: "title", max: limits.max_title_chars });
    }
    Ok(())
}

pub fn emoji(emoji: &str) -> CoreResult<()> {
    no_nul("emoji", emoji)?;
    if emoji.is_empty() || emoji.chars().count() > 16 {
        return Err(CoreError::invalid("emoji", "must be 1 to 16 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_limit_counts_characters_not_bytes() {
        let limits = Limits::default();
        assert!(message_content(&limits, &"é".repeat(1000), false).is_ok());
        assert!(matches!(
            message_content(&limits, &"é".repeat(1001), false),
            Err(CoreError::TooLong { max: 1000, .. })
        ));
        assert!(matches!(message_content(&limits, "  ", false), Err(CoreError::Invalid { .. })));
        assert!(message_content(&limits, "", true).is_ok());
    }
}
