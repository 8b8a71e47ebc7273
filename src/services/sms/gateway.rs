//! The SMS carrier behind a trait. The default is a simulated carrier that behaves like a real
//! one: it accepts well-formed numbers, reports later that some could not be delivered (its
//! unreachable test numbers end in 0000), can be down (then it refuses the hand-off), and
//! de-duplicates hand-offs by their idempotency key (a repeat gets the first answer back and is
//! not sent again; `simulation::Records`, in the database for the server's instances).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::platform::simulation::{Records, fresh_reference};

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
    /// The reference given to each accepted key (`sms`).
    records: Records,
}

impl SimulatedCarrier {
    pub fn with_records(records: Records) -> Self {
        SimulatedCarrier {
            down: AtomicBool::new(false),
            records,
        }
    }

    /// Makes the carrier refuse (or accept again) every hand-off, as during an outage.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn is_unreachable(recipient: &str) -> bool {
        recipient.ends_with("0000")
    }

    /// How many distinct messages were accepted (each sent once whatever the repeats).
    pub fn accepted_count(&self) -> usize {
        self.records.count("sms")
    }
}

impl SmsGateway for SimulatedCarrier {
    fn submit(&self, _recipient: &str, _body: &str, key: &str) -> Handoff {
        let failed = |e: String| {
            tracing::warn!("the simulated carrier failed: {e}");
            Handoff::Refused {
                reason: "The SMS carrier failed; nothing was sent.".into(),
            }
        };
        let accepted = |reference: serde_json::Value| Handoff::Accepted {
            reference: reference.as_str().unwrap_or_default().to_string(),
        };
        match self.records.get("sms", key) {
            Ok(Some(reference)) => return accepted(reference),
            Ok(None) => {}
            Err(e) => return failed(e),
        }
        if self.down.load(Ordering::SeqCst) {
            return Handoff::Refused {
                reason: "The SMS carrier is unavailable; nothing was sent.".into(),
            };
        }
        match self
            .records
            .first("sms", key, || fresh_reference("sim-").into())
        {
            Ok(reference) => accepted(reference),
            Err(e) => failed(e),
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
