//! Typed ids, so a user id can never be passed where a conversation id belongs.
//!
//! Users are named by the identity provider (a Django primary key such as `5`, a UUID, any
//! non-empty string); conversations and messages by chatwire's own integers, which four of the
//! five documents show. For the APIs that name conversations and messages by UUID, each integer
//! also has one UUID name ([`ConversationId::uuid`], [`MessageId::uuid`]) computed from it, so
//! encoding an event for such a socket needs no lookup.
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;
use uuid::Uuid;

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum IdError {
    #[error("an id must not be empty")]
    Empty,
    #[error("an id is at most {max} bytes", max = UserId::MAX_LEN)]
    TooLong,
    #[error("an id must not contain control characters")]
    ControlCharacter,
    #[error("not an id: {0}")]
    Malformed(String),
}

/// A user, as the identity provider's `sub` / `user_id` claim names them.
///
/// Held as one canonical text: an integer in decimal (`5` and `"5"` are one user), a UUID in
/// lowercase hyphenated form, anything else as given. On the wire an integer id is a JSON
/// integer (what a Django client compares with), every other id a string. Cloning shares the
/// text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Arc<str>);

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for UserId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(UserId::MAX_LEN))
                    .pattern(Some("^[^\\u0000-\\u001F\\u007F-\\u009F]+$")),
            )
            .description(Some(
                "A user as the identity provider names them: a JSON integer for an integer id (a Django primary key), \
                 else a string (a UUID in lowercase hyphenated form, or any other id as issued).",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for UserId {}

impl UserId {
    /// Longest accepted id, in characters (Django's longest `CharField` primary keys fit).
    pub const MAX_LEN: usize = 255;

    pub fn from_int(n: i64) -> Self {
        UserId(n.to_string().into())
    }

    /// Canonicalizes an id given as text.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if raw.is_empty() {
            return Err(IdError::Empty);
        }
        if raw.chars().count() > Self::MAX_LEN {
            return Err(IdError::TooLong);
        }
        if raw.chars().any(char::is_control) {
            return Err(IdError::ControlCharacter);
        }
        if let Ok(uuid) = Uuid::try_parse(raw) {
            return Ok(UserId(uuid.hyphenated().to_string().into()));
        }
        Ok(UserId(raw.into()))
    }

    /// An id read back from storage, which only ever holds canonical text (see [`UserId::parse`]).
    pub fn from_canonical(text: String) -> Self {
        UserId(text.into())
    }

    /// The canonical text: what Postgres stores and channel names carry.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an integer, when the identity provider issued an integer.
    pub fn as_int(&self) -> Option<i64> {
        canonical_int(&self.0)
    }
}

/// `Some(n)` only for the one spelling `n.to_string()` gives, so `"05"` stays a string id.
fn canonical_int(s: &str) -> Option<i64> {
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({:?})", &*self.0)
    }
}

impl FromStr for UserId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UserId::parse(s)
    }
}

impl Serialize for UserId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.as_int() {
            Some(n) => s.serialize_i64(n),
            None => s.serialize_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct UserIdVisitor;
        impl Visitor<'_> for UserIdVisitor {
            type Value = UserId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a user id: an integer or a non-empty string")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<UserId, E> {
                Ok(UserId::from_int(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<UserId, E> {
                i64::try_from(n).map(UserId::from_int).map_err(|_| E::custom("user id out of range"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<UserId, E> {
                UserId::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_any(UserIdVisitor)
    }
}

/// Implements the integer ids: JSON integers out, an integer or a digit string in.
macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse().map(Self).map_err(|_| IdError::Malformed(format!(concat!("{:?} is not a ", $what, " id"), s)))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct IdVisitor;
                impl Visitor<'_> for IdVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str(concat!("a ", $what, " id: an integer or a string of digits"))
                    }
                    fn visit_i64<E: de::Error>(self, n: i64) -> Result<$name, E> {
                        Ok($name(n))
                    }
                    fn visit_u64<E: de::Error>(self, n: u64) -> Result<$name, E> {
                        i64::try_from(n).map($name).map_err(|_| E::custom(concat!($what, " id out of range")))
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$name, E> {
                        s.parse().map_err(E::custom)
                    }
                }
                d.deserialize_any(IdVisitor)
            }
        }

        impl $name {
            /// This id's UUID name, for the APIs that name things by UUID.
            pub fn uuid(self) -> Uuid {
                encode_uuid($name::UUID_KIND, self.0)
            }

            /// The id a UUID name stands for; `None` for any UUID chatwire did not compute.
            pub fn from_uuid(uuid: Uuid) -> Option<Self> {
                decode_uuid($name::UUID_KIND, uuid).map(Self)
            }
        }
    };
}

int_id!(
    /// A conversation: a DM or a group. Assigned by Postgres; also the `chat_<id>` channel name.
    ConversationId,
    "conversation"
);
int_id!(
    /// A message's global id. Not a cursor: ids are not commit-ordered; use the per-conversation `seq`.
    MessageId,
    "message"
);

impl ConversationId {
    const UUID_KIND: u8 = 1;
}

impl MessageId {
    const UUID_KIND: u8 = 2;
}

/// The UUID names are RFC 9562 version-8 ("vendor-specific") UUIDs: a fixed prefix `63686174`
/// ("chat"), a kind byte, and the integer in the low 62 bits. They reveal no more than the
/// integer ids the other APIs show, and decode without a lookup.
const UUID_PREFIX: [u8; 4] = *b"chat";

fn encode_uuid(kind: u8, n: i64) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&UUID_PREFIX);
    bytes[6] = 0x80; // version 8
    bytes[7] = kind;
    // Ids are positive and far below 2^62; the top two bits carry the RFC variant (0b10).
    let low = (n as u64 & (u64::MAX >> 2)) | (1 << 63);
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    Uuid::from_bytes(bytes)
}

fn decode_uuid(kind: u8, uuid: Uuid) -> Option<i64> {
    let bytes = uuid.as_bytes();
    if bytes[..4] != UUID_PREFIX || bytes[4..8] != [0, 0, 0x80, kind] {
        return None;
    }
    let low = u64::from_be_bytes(bytes[8..].try_into().ok()?);
    if low >> 62 != 0b10 {
        return None;
    }
    Some((low & (u64::MAX >> 2)) as i64)
}

/// A pub/sub channel, named as Django Channels groups are so operators recognise them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `chat_<conversation>`: everything that happens inside one conversation.
    Conversation(ConversationId),
    /// `user_<user>`: what concerns one user wherever they are (added to a conversation, a request).
    User(UserId),
}

impl Channel {
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// Parses a channel name back; `None` for anything that is not ours.
    pub fn parse(name: &str) -> Option<Self> {
        if let Some(rest) = name.strip_prefix("chat_") {
            return canonical_int(rest).map(|n| Channel::Conversation(ConversationId(n)));
        }
        if let Some(rest) = name.strip_prefix("user_") {
            return UserId::parse(rest).ok().map(Channel::User);
        }
        None
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Channel::Conversation(id) => write!(f, "chat_{id}"),
            Channel::User(id) => write!(f, "user_{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        let c = Channel::Conversation(ConversationId(12));
        assert_eq!(c.name(), "chat_12");
        assert_eq!(Channel::parse(&c.name()), Some(c));
        let u = Channel::User(UserId::from_int(5));
        assert_eq!(u.name(), "user_5");
        assert_eq!(Channel::parse(&u.name()), Some(u));
        let u = Channel::User(UserId::parse(&Uuid::max().to_string()).unwrap());
        assert_eq!(Channel::parse(&u.name()), Some(u));
        assert_eq!(Channel::parse("chat_x"), None);
        assert_eq!(Channel::parse("other"), None);
    }

    #[test]
    fn user_ids_have_one_canonical_form() {
        assert_eq!(UserId::from_int(5), UserId::parse("5").unwrap());
        assert_eq!(serde_json::from_str::<UserId>("5").unwrap(), serde_json::from_str::<UserId>("\"5\"").unwrap());
        assert_eq!(serde_json::to_string(&UserId::parse("5").unwrap()).unwrap(), "5");
        assert_eq!(UserId::parse("05").unwrap().as_int(), None);
        assert_eq!(serde_json::to_string(&UserId::parse("alice").unwrap()).unwrap(), "\"alice\"");
        let upper = "8D0E3B2C-0000-4000-8000-000000000001";
        assert_eq!(UserId::parse(upper).unwrap().as_str(), upper.to_lowercase());
        assert_eq!(UserId::parse(""), Err(IdError::Empty));
        assert_eq!(UserId::parse("a\nb"), Err(IdError::ControlCharacter));
        assert_eq!(UserId::parse(&"x".repeat(256)), Err(IdError::TooLong));
        assert!(serde_json::from_str::<UserId>("5.5").is_err());
        assert!(serde_json::from_str::<UserId>("true").is_err());
    }

    #[test]
    fn integer_ids_accept_either_json_type() {
        assert_eq!(serde_json::from_str::<ConversationId>("7").unwrap(), ConversationId(7));
        assert_eq!(serde_json::from_str::<ConversationId>("\"7\"").unwrap(), ConversationId(7));
        assert!(serde_json::from_str::<ConversationId>("\"seven\"").is_err());
        assert_eq!(serde_json::to_string(&MessageId(9)).unwrap(), "9");
    }

    #[test]
    fn uuid_names_round_trip_and_stay_apart() {
        for n in [1, 42, i64::from(u32::MAX) * 7] {
            let c = ConversationId(n).uuid();
            assert_eq!(c.get_version_num(), 8);
            assert_eq!(ConversationId::from_uuid(c), Some(ConversationId(n)));
            assert_eq!(MessageId::from_uuid(c), None, "a conversation's UUID is not a message's");
            assert_eq!(MessageId::from_uuid(MessageId(n).uuid()), Some(MessageId(n)));
        }
        assert_eq!(ConversationId::from_uuid(Uuid::new_v4()), None);
    }
}
