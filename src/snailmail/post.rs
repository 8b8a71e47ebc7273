//! The postal provider behind a trait. The default is a simulated one that behaves like a real
//! print-and-post service: it accepts a letter once per idempotency key (a repeat gets the
//! first answer back and nothing is printed twice), can be down (then it refuses the hand-off),
//! and reports later: delivered after a delay, or undeliverable for its test addresses (a
//! postal code of all zeros).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A letter as handed to the provider.
#[derive(Debug, Clone)]
pub struct Posting<'a> {
    pub recipient: &'a str,
    pub street: &'a str,
    pub postal_code: &'a str,
    pub city: &'a str,
    pub country: &'a str,
    pub pdf: &'a [u8],
    pub colour: bool,
    pub duplex: bool,
    pub cover: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostHandoff {
    Accepted { reference: String },
    Refused { reason: String },
}

/// Where an accepted letter is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracking {
    InTransit,
    Delivered,
    Undeliverable { reason: String },
}

pub trait PostalService: Send + Sync {
    /// Prints and posts the letter; the same `key` again is the same letter.
    fn post(&self, posting: &Posting<'_>, key: &str) -> Result<PostHandoff, String>;
    /// Where the accepted letter `reference` is now.
    fn track(&self, reference: &str) -> Result<Tracking, String>;
}

#[derive(Debug)]
pub struct SimulatedPost {
    down: AtomicBool,
    next: AtomicU64,
    /// How long the post takes to deliver.
    pub delivery_time: Duration,
    /// Each accepted key: its reference, when it was accepted, whether it can be delivered.
    accepted: Mutex<HashMap<String, (String, Instant, bool)>>,
}

impl Default for SimulatedPost {
    /// Delivers after a minute, or after `IAP_SIMULATED_POST_DELIVERY_SECONDS`.
    fn default() -> Self {
        let seconds = std::env::var("IAP_SIMULATED_POST_DELIVERY_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60);
        SimulatedPost::new(Duration::from_secs(seconds))
    }
}

impl SimulatedPost {
    pub fn new(delivery_time: Duration) -> Self {
        SimulatedPost {
            down: AtomicBool::new(false),
            next: AtomicU64::new(1),
            delivery_time,
            accepted: Mutex::new(HashMap::new()),
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// How many distinct letters were printed.
    pub fn printed(&self) -> usize {
        self.accepted.lock().map(|a| a.len()).unwrap_or(0)
    }

    pub fn is_undeliverable(postal_code: &str) -> bool {
        !postal_code.is_empty() && postal_code.chars().all(|c| c == '0')
    }
}

impl PostalService for SimulatedPost {
    fn post(&self, posting: &Posting<'_>, key: &str) -> Result<PostHandoff, String> {
        if self.down.load(Ordering::SeqCst) {
            return Err("the postal service is unavailable".into());
        }
        let mut accepted = self.accepted.lock().map_err(|e| e.to_string())?;
        if let Some((reference, ..)) = accepted.get(key) {
            return Ok(PostHandoff::Accepted {
                reference: reference.clone(),
            });
        }
        if !posting.pdf.starts_with(b"%PDF") {
            return Ok(PostHandoff::Refused {
                reason: "the document is not a PDF".into(),
            });
        }
        let reference = format!("SIM-POST-{:06}", self.next.fetch_add(1, Ordering::SeqCst));
        let deliverable = !Self::is_undeliverable(posting.postal_code);
        accepted.insert(
            key.to_string(),
            (reference.clone(), Instant::now(), deliverable),
        );
        Ok(PostHandoff::Accepted { reference })
    }

    fn track(&self, reference: &str) -> Result<Tracking, String> {
        let accepted = self.accepted.lock().map_err(|e| e.to_string())?;
        let Some((_, at, deliverable)) = accepted.values().find(|(r, ..)| r == reference) else {
            // Accepted before this process started: long delivered.
            return Ok(Tracking::Delivered);
        };
        if at.elapsed() < self.delivery_time {
            Ok(Tracking::InTransit)
        } else if *deliverable {
            Ok(Tracking::Delivered)
        } else {
            Ok(Tracking::Undeliverable {
                reason: "no such address".into(),
            })
        }
    }
}
