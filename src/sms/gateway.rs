//! The SMS carrier behind a trait. The default is a simulated carrier that behaves like a real
//! one: it accepts well-formed numbers, reports later that some could not be delivered (its
//! unreachable test numbers end in 0000), and can be down (then it refuses the hand-off).

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
    /// Hands `body` for `recipient` (E.164) to the carrier.
    fn submit(&self, recipient: &str, body: &str) -> Handoff;
    /// The carrier's report on an accepted message, once it has one.
    fn report(&self, recipient: &str, reference: &str) -> Option<DeliveryReport>;
}

#[derive(Debug, Default)]
pub struct SimulatedCarrier {
    down: AtomicBool,
    next: AtomicU64,
}

impl SimulatedCarrier {
    /// Makes the carrier refuse (or accept again) every hand-off, as during an outage.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn is_unreachable(recipient: &str) -> bool {
        recipient.ends_with("0000")
    }
}

impl SmsGateway for SimulatedCarrier {
    fn submit(&self, _recipient: &str, _body: &str) -> Handoff {
        if self.down.load(Ordering::SeqCst) {
            return Handoff::Refused {
                reason: "The SMS carrier is unavailable; nothing was sent.".into(),
            };
        }
        Handoff::Accepted {
            reference: format!("sim-{}", self.next.fetch_add(1, Ordering::SeqCst) + 1),
        }
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
