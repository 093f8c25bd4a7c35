//! Typed ids, so a user id can never be passed where a conversation id belongs.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A user, as named by the identity provider's `sub` / `user_id` claim.
    UserId
);
uuid_id!(
    /// A conversation: a DM or a group. Random (v4), so ids reveal nothing about how many exist.
    ConversationId
);

impl ConversationId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
}

/// A message's global id. Not a cursor: ids are not commit-ordered; use the per-conversation `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct MessageId(pub i64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A pub/sub channel, named as Django Channels groups are so operators recognise them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
            return rest.parse().ok().map(Channel::Conversation);
        }
        if let Some(rest) = name.strip_prefix("user_") {
            return rest.parse().ok().map(Channel::User);
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
        let c = Channel::Conversation(ConversationId(Uuid::nil()));
        assert_eq!(c.name(), "chat_00000000-0000-0000-0000-000000000000");
        assert_eq!(Channel::parse(&c.name()), Some(c));
        let u = Channel::User(UserId(Uuid::max()));
        assert_eq!(Channel::parse(&u.name()), Some(u));
        assert_eq!(Channel::parse("chat_12"), None);
        assert_eq!(Channel::parse("other"), None);
    }
}
