//! The SMS carrier behind a trait. The default is a simulated carrier that behaves like a real
//! one: it accepts well-formed numbers, reports later that some could not be delivered (its
//! unreachable test numbers end in 0000), can be down (then it refuses the hand-off), and
//! de-duplicates hand-offs by their idempotency key (a repeat gets the first answer back and is
//! not sent again).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What the carrier says when handed a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handoff {
    Accepted { reference: String },
    Refused { reason: String },
}

/// A delivery report for an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryReport {
    Delivered,
    Failed { reason: String },
}

pub trait SmsGateway: Send + Sync {
    /// Hands `body` for `recipient` (E.164) to the carrier. A second hand-off with the same
    /// `key` is the same message: the carrier answers as it did and sends nothing again.
    fn submit(&self, recipient: &str, body: &str, key: &str) -> Handoff;
    /// The carrier's report on an accepted message, once it has one.
    fn report(&self, recipient: &str, reference: &str) -> Option<DeliveryReport>;
}

#[derive(Debug, Default)]
pub struct SimulatedCarrier {
    down: AtomicBool,
    next: AtomicU64,
    /// The reference given to each accepted key.
    accepted: Mutex<HashMap<String, String>>,
}

impl SimulatedCarrier {
    /// Makes the carrier refuse (or accept again) every hand-off, as during an outage.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn is_unreachable(recipient: &str) -> bool {
        recipient.ends_with("0000")
    }

    /// How many distinct messages were accepted (each sent once whatever the repeats).
    pub fn accepted_count(&self) -> usize {
        self.accepted.lock().map(|a| a.len()).unwrap_or(0)
    }
}

impl SmsGateway for SimulatedCarrier {
    fn submit(&self, _recipient: &str, _body: &str, key: &str) -> Handoff {
        let Ok(mut accepted) = self.accepted.lock() else {
            return Handoff::Refused {
                reason: "The SMS carrier failed; nothing was sent.".into(),
            };
        };
        if let Some(reference) = accepted.get(key) {
            return Handoff::Accepted {
                reference: reference.clone(),
            };
        }
        if self.down.load(Ordering::SeqCst) {
            return Handoff::Refused {
                reason: "The SMS carrier is unavailable; nothing was sent.".into(),
            };
        }
        let reference = format!("sim-{}", self.next.fetch_add(1, Ordering::SeqCst) + 1);
        accepted.insert(key.to_string(), reference.clone());
        Handoff::Accepted { reference }
    }

    fn report(&self, recipient: &str, _reference: &str) -> Option<DeliveryReport> {
        Some(if Self::is_unreachable(recipient) {
            DeliveryReport::Failed {
                reason: "The number is not reachable.".into(),
            }
        } else {
            DeliveryReport::Delivered
        })
    }
}
