//! A live message's frame, encoded once per dialect per worker thread and shared by every socket
//! there that writes it: a message to a group of 100 on one node costs one encode, not 99.
//!
//! Keyed by the event's allocation (the hub hands every local socket the same `Arc<Event>`), which
//! the cache keeps alive while it holds the frame, so a key is never reused for another event.
//! Per thread (each actix worker runs its sockets on one thread), so no lock is taken.
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chatwire_core::Event;

/// Frames kept per worker thread; the oldest go first.
const CAPACITY: usize = 1024;

type Key = (&'static str, usize);

#[derive(Default)]
struct Cache {
    frames: HashMap<Key, (Arc<Event>, String)>,
    order: VecDeque<Key>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// The frame of `event` in `dialect`, from the cache or from `encode` (then cached); `None` when
/// `encode` has none (the dialect encodes this event per socket).
pub(crate) fn shared(
    dialect: &'static str,
    event: &Arc<Event>,
    encode: impl FnOnce(&Event) -> Option<String>,
) -> Option<String> {
    let key = (dialect, Arc::as_ptr(event) as usize);
    if let Some(frame) = CACHE.with_borrow(|cache| cache.frames.get(&key).map(|(_, frame)| frame.clone())) {
        return Some(frame);
    }
    let frame = encode(event)?;
    CACHE.with_borrow_mut(|cache| {
        if cache.order.len() >= CAPACITY
            && let Some(oldest) = cache.order.pop_front()
        {
            cache.frames.remove(&oldest);
        }
        cache.order.push_back(key);
        cache.frames.insert(key, (event.clone(), frame.clone()));
    });
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn event(seq: i64) -> Arc<Event> {
        Arc::new(Event::SeqHint { conversation_id: chatwire_core::ConversationId(1), last_seq: seq })
    }

    #[test]
    fn one_encode_per_event_and_dialect() {
        let encodes = Cell::new(0);
        let encode = |e: &Event| {
            encodes.set(encodes.get() + 1);
            Some(format!("{e:?}"))
        };
        let (a, b) = (event(1), event(2));
        for _ in 0..5 {
            assert!(shared("x", &a, encode).is_some_and(|f| f.contains("last_seq: 1")));
        }
        assert_eq!(encodes.get(), 1, "five sockets, one encode");
        shared("x", &b, encode);
        shared("y", &a, encode);
        assert_eq!(encodes.get(), 3, "another event or another dialect encodes again");
        assert!(shared("z", &a, |_| None).is_none(), "a dialect without a shared frame says so");
    }
}
