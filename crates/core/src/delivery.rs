//! Each socket writes a conversation's messages once each and in seq order, without gaps.
//!
//! Seqs are gapless and commit in order, but live events can arrive out of order (two senders'
//! publishes race to Redis) or not at all (a publish failed, a node died between commit and
//! publish). A socket therefore tracks, per conversation it follows, the next seq it owes its
//! client. A live message at that seq is written; one above it is held briefly for the missing
//! ones; one below it was written already and is dropped. A gap that outlives its hold is filled
//! from the store by the caller ([`DeliveryOrder::due`], [`DeliveryOrder::filled`]).
//!
//! Pure bookkeeping: the socket loop owns the clock, the store and the writes.
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::ids::ConversationId;

/// Held messages per conversation beyond which the gap is filled at once instead of waiting.
const MAX_HELD: usize = 256;

#[derive(Debug)]
struct Track<T> {
    /// The next seq this socket owes its client; `None` until a floor is known.
    next: Option<i64>,
    /// Messages that arrived above `next`, waiting for the ones before them.
    held: BTreeMap<i64, T>,
    /// When the oldest gap in `held` stops waiting for live delivery.
    due: Option<Instant>,
    /// The store said it holds messages up to here (a node's sweep): owed even with none held.
    hinted: Option<i64>,
}

impl<T> Default for Track<T> {
    fn default() -> Self {
        Track { next: None, held: BTreeMap::new(), due: None, hinted: None }
    }
}

impl<T> Track<T> {
    /// Moves every held message that is now in order into `out`.
    fn release(&mut self, out: &mut Vec<T>) {
        let Some(mut next) = self.next else { return };
        while let Some(item) = self.held.remove(&next) {
            out.push(item);
            next += 1;
        }
        self.next = Some(next);
        self.held.retain(|seq, _| *seq >= next);
        if self.held.is_empty() {
            self.due = None;
        }
    }
}

/// A gap to fill from the store: the messages with `after < seq < before`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    pub conversation: ConversationId,
    pub after: i64,
    pub before: i64,
}

/// Per conversation, what one socket has written; `T` is whatever the socket writes a message as.
#[derive(Debug)]
pub struct DeliveryOrder<T> {
    convs: HashMap<ConversationId, Track<T>>,
    /// Floors learnt at the handshake, sorted, for conversations no message has come for yet:
    /// a socket follows many conversations and hears from few, so most never need a `Track`.
    floors: Vec<(ConversationId, i64)>,
    hold: Duration,
}

impl<T> DeliveryOrder<T> {
    /// `hold`: how long a message above a gap waits for the missing ones to arrive live.
    pub fn new(hold: Duration) -> Self {
        DeliveryOrder { convs: HashMap::new(), floors: Vec::new(), hold }
    }

    /// Follows many conversations at once, each from its `last_seq` (the handshake).
    pub fn follow_all(&mut self, mut floors: Vec<(ConversationId, i64)>) {
        floors.sort_unstable();
        floors.dedup_by_key(|(c, _)| *c);
        self.floors = floors;
    }

    fn track(&mut self, conversation: ConversationId) -> &mut Track<T> {
        let floors = &self.floors;
        self.convs.entry(conversation).or_insert_with(|| {
            let floor = floors.binary_search_by_key(&conversation, |(c, _)| *c).ok().map(|i| floors[i].1);
            Track { next: floor.map(|f| f + 1), ..Track::default() }
        })
    }

    /// The socket follows `conversation` from `last_seq` on: everything above it is owed.
    /// Keeps a floor already known (a socket never owes less than it has started owing).
    pub fn follow(&mut self, conversation: ConversationId, last_seq: i64) {
        let track = self.track(conversation);
        if track.next.is_none() {
            track.next = Some(last_seq + 1);
        }
    }

    /// Every conversation this socket follows.
    pub fn followed(&self) -> Vec<ConversationId> {
        let mut all: Vec<ConversationId> =
            self.floors.iter().map(|(c, _)| *c).chain(self.convs.keys().copied()).collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The socket no longer follows `conversation`.
    pub fn unfollow(&mut self, conversation: ConversationId) {
        self.convs.remove(&conversation);
        if let Ok(i) = self.floors.binary_search_by_key(&conversation, |(c, _)| *c) {
            self.floors.remove(i);
        }
    }

    /// A live message arrived: what to write now, in order (nothing while it waits, or if it was
    /// written before).
    pub fn live(&mut self, conversation: ConversationId, seq: i64, item: T, now: Instant) -> Vec<T> {
        let hold = self.hold;
        let track = self.track(conversation);
        let next = *track.next.get_or_insert(seq);
        let mut out = Vec::new();
        if seq < next {
            return out;
        }
        track.held.insert(seq, item);
        track.release(&mut out);
        if !track.held.is_empty() && track.due.is_none() {
            track.due = Some(if track.held.len() > MAX_HELD { now } else { now + hold });
        } else if track.held.len() > MAX_HELD {
            track.due = Some(now);
        }
        out
    }

    /// This socket is about to write `seq` itself (the reply to its own send). `Err` with the gap
    /// to fill first when messages before it are still owed; a repeat of an old seq (a retried
    /// send answered with the original) is `Ok` and changes nothing.
    pub fn own(&mut self, conversation: ConversationId, seq: i64) -> Result<(), Gap> {
        let track = self.track(conversation);
        let next = *track.next.get_or_insert(seq);
        if seq > next {
            return Err(Gap { conversation, after: next - 1, before: seq });
        }
        if seq == next {
            track.next = Some(seq + 1);
        }
        Ok(())
    }

    /// Gaps whose hold ran out: fill each from the store, then call [`Self::filled`].
    pub fn due(&self, now: Instant) -> Vec<Gap> {
        self.convs
            .iter()
            .filter(|(_, t)| t.due.is_some_and(|d| d <= now))
            .filter_map(|(c, t)| {
                let next = t.next?;
                let held = t.held.keys().next().copied();
                let hinted = t.hinted.map(|h| h + 1);
                let before = held.into_iter().chain(hinted).min()?;
                (before > next).then_some(Gap { conversation: *c, after: next - 1, before })
            })
            .collect()
    }

    /// When the next hold runs out, if any message is held.
    pub fn next_due(&self) -> Option<Instant> {
        self.convs.values().filter_map(|t| t.due).min()
    }

    /// The store's messages for a gap, in seq order: what to write now (them, then whatever held
    /// message they unblocked). Seqs already written are skipped.
    pub fn filled(&mut self, conversation: ConversationId, fetched: Vec<(i64, T)>) -> Vec<T> {
        let mut out = Vec::new();
        let Some(track) = self.convs.get_mut(&conversation) else { return out };
        for (seq, item) in fetched {
            let next = *track.next.get_or_insert(seq);
            if seq == next {
                out.push(item);
                track.next = Some(seq + 1);
                track.held.remove(&seq);
            } else if seq > next {
                track.held.entry(seq).or_insert(item);
            }
        }
        track.due = None;
        track.release(&mut out);
        if track.hinted.is_some_and(|h| track.next.is_some_and(|next| next > h)) {
            track.hinted = None;
        }
        out
    }

    /// The store holds messages of `conversation` up to `last_seq` (a node's sweep found them
    /// never delivered live): if this socket owes any, they are due now.
    pub fn hint(&mut self, conversation: ConversationId, last_seq: i64, now: Instant) {
        let track = self.track(conversation);
        if track.next.is_some_and(|next| next <= last_seq) {
            track.hinted = Some(track.hinted.map_or(last_seq, |h| h.max(last_seq)));
            track.due = Some(now);
        }
    }

    /// The client says it holds everything up to `seq` (a resume): nothing up to there is owed.
    /// Only moves up; what the client lacks below what this socket wrote, the resume replays
    /// (its exactly-once bookkeeping is [`crate::seen::SeenSeqs`]).
    pub fn client_has(&mut self, conversation: ConversationId, seq: i64) {
        let track = self.track(conversation);
        if track.next.is_none_or(|next| next <= seq) {
            track.next = Some(seq + 1);
        }
    }

    /// `seq` was written outside the live path (a resume replay): what held messages it unblocked.
    pub fn passed(&mut self, conversation: ConversationId, seq: i64) -> Vec<T> {
        let mut out = Vec::new();
        let track = self.track(conversation);
        if track.next.is_none_or(|next| next <= seq) {
            track.next = Some(seq + 1);
        }
        track.release(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: ConversationId = ConversationId(1);

    fn order() -> DeliveryOrder<i64> {
        let mut o = DeliveryOrder::new(Duration::from_millis(200));
        o.follow(C, 4);
        o
    }

    #[test]
    fn in_order_messages_pass_and_repeats_are_dropped() {
        let (mut o, now) = (order(), Instant::now());
        assert_eq!(o.live(C, 5, 5, now), vec![5]);
        assert_eq!(o.live(C, 6, 6, now), vec![6]);
        assert_eq!(o.live(C, 6, 6, now), Vec::<i64>::new(), "a repeat");
        assert_eq!(o.live(C, 3, 3, now), Vec::<i64>::new(), "below the floor");
    }

    #[test]
    fn an_inversion_is_put_right_when_the_missing_one_arrives() {
        let (mut o, now) = (order(), Instant::now());
        assert!(o.live(C, 6, 6, now).is_empty(), "held for 5");
        assert_eq!(o.next_due(), Some(now + Duration::from_millis(200)));
        assert_eq!(o.live(C, 5, 5, now), vec![5, 6]);
        assert_eq!(o.next_due(), None);
    }

    #[test]
    fn a_gap_that_outlives_its_hold_is_filled_from_the_store() {
        let (mut o, now) = (order(), Instant::now());
        assert!(o.live(C, 8, 8, now).is_empty());
        assert!(o.due(now).is_empty(), "still waiting");
        let later = now + Duration::from_millis(201);
        assert_eq!(o.due(later), vec![Gap { conversation: C, after: 4, before: 8 }]);
        assert_eq!(o.filled(C, vec![(5, 5), (6, 6), (7, 7)]), vec![5, 6, 7, 8]);
        assert!(o.due(later).is_empty());
        assert_eq!(o.live(C, 7, 7, later), Vec::<i64>::new(), "a late live copy of a filled one");
        assert_eq!(o.live(C, 9, 9, later), vec![9]);
    }

    #[test]
    fn an_own_send_after_a_gap_asks_for_the_gap_first() {
        let mut o = order();
        assert_eq!(o.own(C, 7), Err(Gap { conversation: C, after: 4, before: 7 }));
        assert_eq!(o.filled(C, vec![(5, 5), (6, 6)]), vec![5, 6]);
        assert_eq!(o.own(C, 7), Ok(()));
        assert_eq!(o.live(C, 7, 7, Instant::now()), Vec::<i64>::new(), "its live copy is dropped");
        assert_eq!(o.own(C, 2), Ok(()), "a retried send answered with an old message");
    }

    #[test]
    fn a_resume_moves_the_floor_up_and_unblocks_what_was_held() {
        let (mut o, now) = (order(), Instant::now());
        o.client_has(C, 2);
        assert_eq!(o.live(C, 5, 5, now), vec![5], "a floor only moves up");
        assert!(o.live(C, 8, 8, now).is_empty());
        assert!(o.passed(C, 6).is_empty(), "7 still missing");
        assert_eq!(o.passed(C, 7), vec![8]);
        o.client_has(C, 20);
        assert_eq!(o.live(C, 20, 20, now), Vec::<i64>::new());
        assert_eq!(o.live(C, 21, 21, now), vec![21]);
    }

    #[test]
    fn floors_from_the_handshake_apply_when_a_conversation_is_first_heard_from() {
        let now = Instant::now();
        let mut o: DeliveryOrder<i64> = DeliveryOrder::new(Duration::from_millis(200));
        o.follow_all(vec![(ConversationId(9), 2), (C, 4)]);
        assert!(o.live(C, 6, 6, now).is_empty(), "5 is owed first");
        assert_eq!(o.live(ConversationId(9), 3, 3, now), vec![3]);
        o.unfollow(ConversationId(9));
        assert_eq!(o.live(ConversationId(9), 7, 7, now), vec![7], "no floor any more: taken as it comes");
    }

    #[test]
    fn a_hint_makes_a_tail_gap_due_with_nothing_held() {
        let (mut o, now) = (order(), Instant::now());
        o.hint(C, 3, now);
        assert!(o.due(now).is_empty(), "nothing owed up to 3");
        o.hint(C, 6, now);
        assert_eq!(o.due(now), vec![Gap { conversation: C, after: 4, before: 7 }]);
        assert_eq!(o.filled(C, vec![(5, 5), (6, 6)]), vec![5, 6]);
        assert!(o.due(now).is_empty());
        assert_eq!(o.live(C, 7, 7, now), vec![7]);
    }

    #[test]
    fn a_pile_of_held_messages_is_filled_at_once() {
        let (mut o, now) = (order(), Instant::now());
        for seq in 6..(6 + MAX_HELD as i64 + 1) {
            o.live(C, seq, seq, now);
        }
        assert_eq!(o.due(now).len(), 1, "no waiting out the hold with this much held");
    }
}
