//! The `rooms` socket, one per room at `/ws/chat/{room_id}/` (specs/004): messages with
//! idempotent `temp_id`s, typing, the sent -> delivered -> read status flow, presence, the
//! server's heartbeat, connection checks and health checks. Besides the documented frames it
//! takes the real Flutter client's `chat_message`, `typing` and `mark_read`.
use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chatwire_core::model::{ConversationKind, ConversationView, Message, NewMessage, Sent};
use chatwire_core::service::Requests;
use chatwire_core::{ConversationId, CoreError, Event, MessageId, UserId};
use chatwire_protocol::DecodeError;
use chatwire_protocol::rooms::{self, ClientFrame, LiveMessage, ServerFrame, Status, delivery_id, recipient, status};
use chrono::Utc;

use crate::error::ApiError;
use crate::socket::{CloseWhy, Dialect, Room, SocketCore, SocketError, Submit};
use crate::state::AppState;

/// How many of the user's own recent messages a socket loads at start to follow their status.
const TRACKED_AT_START: i64 = 200;
/// Own messages whose status is followed; the oldest are dropped beyond this.
const TRACKED_MAX: usize = 1000;

/// `GET /ws/chat/{room_id}/?token=<jwt>`: the socket for one room. A room the caller is not in,
/// or a group (groups are not rooms), is refused like one that does not exist: 404 before the
/// upgrade.
pub(crate) async fn open(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    room_id: &str,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::from(CoreError::NotFound("room"));
    let room: ConversationId = room_id.parse().map_err(|_| not_found())?;
    let dialect = Rooms::new(room, state.settings.limits.max_message_chars, state.settings.max_reconnect_attempts);
    crate::socket::upgrade(&req, body, state, dialect).await
}

pub(crate) struct Rooms {
    room: ConversationId,
    max_chars: usize,
    max_reconnect_attempts: u32,
    /// The user's own messages not yet read by the other side, by seq: (id, status so far).
    /// Receipts move watermarks; this turns a move into one status update per message.
    mine: BTreeMap<i64, (i64, Status)>,
    sequence: u64,
}

impl Rooms {
    pub fn new(room: ConversationId, max_chars: usize, max_reconnect_attempts: u32) -> Self {
        Rooms { room, max_chars, max_reconnect_attempts, mine: BTreeMap::new(), sequence: 0 }
    }

    fn track(&mut self, seq: i64, id: i64, status: Status) {
        if status < Status::Read {
            self.mine.insert(seq, (id, status));
            while self.mine.len() > TRACKED_MAX {
                self.mine.pop_first();
            }
        }
    }

    /// The other side's watermark reached `seq` with `reached`: status updates for every own
    /// message it newly covers.
    async fn advance(&mut self, core: &mut SocketCore, seq: i64, reached: Status, by: &UserId) {
        let now = Utc::now();
        let covered: Vec<i64> = self.mine.range(..=seq).filter(|(_, (_, s))| *s < reached).map(|(k, _)| *k).collect();
        for k in covered {
            let Some((id, _)) = self.mine.get(&k).copied() else { continue };
            if reached == Status::Read {
                self.mine.remove(&k);
            } else {
                self.mine.insert(k, (id, reached));
            }
            let frame = ServerFrame::MessageStatusUpdate {
                message_id: id,
                status: reached,
                timestamp: now,
                updated_by: by.clone(),
            };
            if !core.send(rooms::encode(&frame)).await {
                return;
            }
        }
    }

    fn load_mine(&mut self, view: &ConversationView, messages: &[Message], me: &UserId) {
        for m in messages.iter().filter(|m| m.sender_id() == Some(me)) {
            self.track(m.seq, m.id.0, status(m, recipient(view, m)));
        }
    }

    /// A message to the room; a `temp_id` is the idempotency key, so a retried send returns the
    /// original.
    fn to_room(&self, content: String, temp_id: Option<String>) -> Submit<Option<String>> {
        Submit {
            conversation: self.room,
            message: NewMessage { content, client_key: temp_id.clone(), ..NewMessage::default() },
            requests: Requests::ReplyAccepts,
            reply: temp_id,
        }
    }

    /// The seq of a message named by a receipt, which must be in this room.
    async fn seq_of(&self, core: &SocketCore, id: MessageId) -> Result<i64, CoreError> {
        let m = core.state.service.message(&core.actor, id).await?;
        if m.conversation_id != self.room {
            return Err(CoreError::NotFound("message"));
        }
        Ok(m.seq)
    }
}

impl Dialect for Rooms {
    const NAME: &'static str = "rooms";
    type Frame = ClientFrame;
    /// The client's `temp_id`, echoed on the message.
    type SendReply = Option<String>;

    fn submit(&self, frame: ClientFrame) -> Result<Submit<Option<String>>, ClientFrame> {
        match frame {
            ClientFrame::Message { content, temp_id } => Ok(self.to_room(content, temp_id)),
            ClientFrame::ChatMessage { message } => Ok(self.to_room(message, None)),
            other => Err(other),
        }
    }

    fn sent(&mut self, temp_id: Option<String>, sent: &Sent) -> Option<String> {
        self.track(sent.message.seq, sent.message.id.0, Status::Sent);
        let frame = ServerFrame::Message {
            delivery_id: delivery_id(&sent.message),
            message: LiveMessage::new(&sent.message, temp_id),
        };
        Some(rooms::encode(&frame))
    }

    fn room(&self) -> Option<Room> {
        // Rooms are DMs: a group's id is refused like a room that does not exist.
        Some(Room { id: self.room, kind: Some(ConversationKind::Dm) })
    }

    fn decode(&self, text: &str) -> Result<ClientFrame, DecodeError> {
        rooms::decode(text)
    }

    fn describe(frame: &ClientFrame) -> (Option<String>, &'static str) {
        (None, frame.type_name())
    }

    async fn handle(&mut self, core: &mut SocketCore, frame: ClientFrame) -> Result<Option<String>, CoreError> {
        let room = self.room;
        let reply = match frame {
            // The loop takes sends through `submit`, so they never come here.
            ClientFrame::Message { .. } | ClientFrame::ChatMessage { .. } => {
                return Err(CoreError::Internal("a send reached handle".into()));
            }
            ClientFrame::TypingOn {} | ClientFrame::TypingOff {} | ClientFrame::Typing { .. } => {
                let on = matches!(frame, ClientFrame::TypingOn {} | ClientFrame::Typing { is_typing: true });
                core.state.service.typing(&core.actor, room, on).await?;
                return Ok(None);
            }
            ClientFrame::MessageRead { message_id } | ClientFrame::MarkRead { message_id } => {
                let seq = self.seq_of(core, message_id).await?;
                core.state.service.mark_read(&core.actor, room, Some(seq)).await?;
                return Ok(None);
            }
            ClientFrame::MessageDelivered { message_id } => {
                let seq = self.seq_of(core, message_id).await?;
                core.state.service.mark_delivered(&core.actor, room, Some(seq)).await?;
                return Ok(None);
            }
            ClientFrame::Ping {} => {
                let now = Utc::now();
                ServerFrame::Pong { timestamp: now, server_time: now }
            }
            // The answer to the server's ping: hearing it is all that matters.
            ClientFrame::Pong {} => return Ok(None),
            ClientFrame::ConnectionCheck {} => ServerFrame::ConnectionStatus {
                status: "healthy",
                duration_seconds: core.connected_at.elapsed().as_secs(),
                last_activity: core.last_activity,
                timestamp: Utc::now(),
            },
        };
        Ok(Some(rooms::encode(&reply)))
    }

    fn error(&self, _reference: Option<&str>, _frame_type: Option<&str>, error: &SocketError) -> String {
        let message = match error {
            SocketError::Core(CoreError::TooLong { .. }) => {
                format!("Message too long (max {} characters)", self.max_chars)
            }
            other => other.message(),
        };
        rooms::encode(&ServerFrame::Error { message, timestamp: Utc::now() })
    }

    async fn greeting(&mut self, core: &mut SocketCore) -> Option<String> {
        let svc = &core.state.service;
        if let (Ok(view), Ok(recent)) = (
            svc.conversation(&core.actor, self.room).await,
            svc.history(&core.actor, self.room, TRACKED_AT_START).await,
        ) {
            self.load_mine(&view, &recent, core.actor.id());
        }
        let s = &core.state.settings;
        Some(rooms::encode(&ServerFrame::ConnectionEstablished {
            room_id: self.room,
            user_id: core.actor.id().clone(),
            timestamp: Utc::now(),
            heartbeat_interval: s.heartbeat_interval_secs,
            connection_timeout: s.connection_timeout_secs,
        }))
    }

    async fn encode_event(&mut self, core: &mut SocketCore, event: &Event) -> Option<String> {
        if event.conversation_id() != Some(self.room) {
            return None;
        }
        let me = core.actor.id().clone();
        let frame = match event {
            Event::MessageCreated { message } => {
                if message.sender_id() == Some(&me) {
                    self.track(message.seq, message.id.0, Status::Sent);
                }
                ServerFrame::Message { delivery_id: delivery_id(message), message: LiveMessage::new(message, None) }
            }
            Event::Delivered { user, seq, .. } if user.id != me => {
                self.advance(core, *seq, Status::Delivered, &user.id).await;
                return None;
            }
            Event::Read { user, seq, .. } if user.id != me => {
                self.advance(core, *seq, Status::Read, &user.id).await;
                return None;
            }
            Event::Typing { user, is_typing, at, .. } if user.id != me => ServerFrame::Typing {
                user_id: user.id.clone(),
                username: user.username.clone(),
                is_typing: *is_typing,
                timestamp: *at,
            },
            Event::Presence { user, is_online, last_seen, .. } if user.id != me => ServerFrame::UserStatusChange {
                user_id: user.id.clone(),
                username: user.username.clone(),
                is_online: *is_online,
                last_seen: *last_seen,
            },
            Event::HealthCheck { .. } => ServerFrame::HealthCheckResponse {
                room_id: self.room,
                user_id: me,
                connection_duration: core.connected_at.elapsed().as_secs(),
                last_activity: core.last_activity,
                is_alive: true,
                timestamp: Utc::now(),
            },
            _ => return None,
        };
        Some(rooms::encode(&frame))
    }

    fn heartbeat(&mut self, _core: &SocketCore) -> Option<String> {
        self.sequence += 1;
        Some(rooms::encode(&ServerFrame::Ping { timestamp: Utc::now(), sequence: self.sequence }))
    }

    fn farewell(&self, why: CloseWhy) -> Option<String> {
        Some(rooms::encode(&ServerFrame::ReconnectSuggested {
            reason: why.as_str().to_owned(),
            attempts: 0,
            max_attempts: self.max_reconnect_attempts,
        }))
    }
}
