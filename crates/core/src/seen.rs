//! Exactly-once delivery on one socket when a resume replay and live events overlap.
use std::collections::{BTreeSet, HashMap};

use crate::ids::ConversationId;

/// Beyond this many out-of-order seqs per conversation, the tracker assumes the gap is lost
/// (a resume will fill it) and stops remembering, so memory stays bounded.
const MAX_ABOVE: usize = 1024;

#[derive(Default, Debug)]
struct Conv {
    /// Every seq <= this is with the client (meaningful once `known`).
    contiguous: i64,
    /// Seqs above `contiguous` this socket sent.
    above: BTreeSet<i64>,
    /// Whether the client told us a cursor; until then only actual sends are remembered.
    known: bool,
}

impl Conv {
    fn absorb(&mut self) {
        if self.known {
            while self.above.remove(&(self.contiguous + 1)) {
                self.contiguous += 1;
            }
        }
        if self.above.len() > MAX_ABOVE {
            // Forget the oldest half: a resume that old replays from the store instead.
            let keep: BTreeSet<i64> = self.above.iter().rev().take(MAX_ABOVE / 2).copied().collect();
            if self.known {
                self.contiguous = self.contiguous.max(keep.first().copied().unwrap_or(0) - 1);
            }
            self.above = keep;
        }
    }
}

/// Which message seqs a socket has already sent, per conversation.
#[derive(Default, Debug)]
pub struct SeenSeqs {
    convs: HashMap<ConversationId, Conv>,
}

impl SeenSeqs {
    /// Records `seq` as sent; `false` if it was sent before (drop it).
    pub fn first_time(&mut self, conversation: ConversationId, seq: i64) -> bool {
        let c = self.convs.entry(conversation).or_default();
        if (c.known && seq <= c.contiguous) || !c.above.insert(seq) {
            return false;
        }
        c.absorb();
        true
    }

    /// The client says it holds everything up to `seq` in this conversation.
    pub fn client_has(&mut self, conversation: ConversationId, seq: i64) {
        let c = self.convs.entry(conversation).or_default();
        c.contiguous = if c.known { c.contiguous.max(seq) } else { seq };
        c.known = true;
        let floor = c.contiguous;
        c.above.retain(|s| *s > floor);
        c.absorb();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_then_resume_sends_each_seq_once() {
        let c = ConversationId(1);
        let mut seen = SeenSeqs::default();
        // Live message 7 arrives before the client resumes from 3.
        assert!(seen.first_time(c, 7));
        seen.client_has(c, 3);
        let replayed: Vec<i64> = (4..=8).filter(|s| seen.first_time(c, *s)).collect();
        assert_eq!(replayed, vec![4, 5, 6, 8]);
        // Live copies of replayed messages are dropped; the next one passes.
        assert!(!seen.first_time(c, 8));
        assert!(seen.first_time(c, 9));
    }

    #[test]
    fn out_of_order_live_delivery_is_not_mistaken_for_a_duplicate() {
        let c = ConversationId(1);
        let mut seen = SeenSeqs::default();
        seen.client_has(c, 4);
        assert!(seen.first_time(c, 6));
        assert!(seen.first_time(c, 5));
        assert!(!seen.first_time(c, 5));
        assert!(!seen.first_time(c, 2));
    }
}
