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

/// One message of a hand-off of several.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    pub recipient: &'a str,
    pub body: &'a str,
    pub key: &'a str,
}

pub trait SmsGateway: Send + Sync {
    /// Hands `body` for `recipient` (E.164) to the carrier. A second hand-off with the same
    /// `key` is the same message: the carrier answers as it did and sends nothing again.
    fn submit(&self, recipient: &str, body: &str, key: &str) -> Handoff;
    /// Hands several messages over at once (carriers take batches), answering each in order;
    /// each is `submit` as to its key.
    fn submit_all(&self, messages: &[Submission<'_>]) -> Vec<Handoff> {
        messages
            .iter()
            .map(|m| self.submit(m.recipient, m.body, m.key))
            .collect()
    }
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
    fn submit(&self, recipient: &str, body: &str, key: &str) -> Handoff {
        let message = Submission {
            recipient,
            body,
            key,
        };
        self.submit_all(&[message]).remove(0)
    }

    /// One look at the records for the whole batch and one write of the new ones, rather than
    /// two round trips a message.
    fn submit_all(&self, messages: &[Submission<'_>]) -> Vec<Handoff> {
        let failed = |e: String| {
            tracing::warn!("the simulated carrier failed: {e}");
            vec![
                Handoff::Refused {
                    reason: "The SMS carrier failed; nothing was sent.".into(),
                };
                messages.len()
            ]
        };
        let keys: Vec<&str> = messages.iter().map(|m| m.key).collect();
        let mut known = match self.records.get_many("sms", &keys) {
            Ok(known) => known,
            Err(e) => return failed(e),
        };
        let down = self.down.load(Ordering::SeqCst);
        let new: Vec<(&str, serde_json::Value)> = keys
            .iter()
            .filter(|k| !known.contains_key(**k))
            .map(|k| (*k, fresh_reference("sim-").into()))
            .collect();
        if !down && !new.is_empty() {
            match self.records.first_many("sms", &new) {
                Ok(stored) => known.extend(stored),
                Err(e) => return failed(e),
            }
        }
        keys.iter()
            .map(|key| match known.get(*key) {
                Some(reference) => Handoff::Accepted {
                    reference: reference.as_str().unwrap_or_default().to_string(),
                },
                None => Handoff::Refused {
                    reason: "The SMS carrier is unavailable; nothing was sent.".into(),
                },
            })
            .collect()
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
