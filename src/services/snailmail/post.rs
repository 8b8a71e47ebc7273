//! The postal provider behind a trait. The default is a simulated one that behaves like a real
//! print-and-post service: it accepts a letter once per idempotency key (a repeat gets the
//! first answer back and nothing is printed twice), can be down (then it refuses the hand-off),
//! and reports later: delivered after a delay, or undeliverable for its test addresses (a
//! postal code of all zeros). What it accepted is kept in `simulation::Records` (in the
//! database for the server's instances), so any instance tracks any letter.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::platform::simulation::{Records, fresh_reference};

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
    /// How long the post takes to deliver.
    pub delivery_time: Duration,
    /// Each accepted letter, by its key (`post`) and by its reference (`post-letter`).
    records: Records,
}

/// An accepted letter, as the post keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Accepted {
    reference: String,
    at: DateTime<Utc>,
    deliverable: bool,
}

impl Default for SimulatedPost {
    /// Delivers after a minute, or after `IAP_SIMULATED_POST_DELIVERY_SECONDS`.
    fn default() -> Self {
        SimulatedPost::with_records(Records::default())
    }
}

impl SimulatedPost {
    pub fn new(delivery_time: Duration) -> Self {
        SimulatedPost {
            down: AtomicBool::new(false),
            delivery_time,
            records: Records::default(),
        }
    }

    /// Keeping what it accepted in `records`; delivers after a minute, or after
    /// `IAP_SIMULATED_POST_DELIVERY_SECONDS`.
    pub fn with_records(records: Records) -> Self {
        let seconds = std::env::var("IAP_SIMULATED_POST_DELIVERY_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60);
        SimulatedPost {
            records,
            ..SimulatedPost::new(Duration::from_secs(seconds))
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// How many distinct letters were printed.
    pub fn printed(&self) -> usize {
        self.records.count("post")
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
        if let Some(known) = self.records.get_as::<Accepted>("post", key)? {
            return Ok(PostHandoff::Accepted {
                reference: known.reference,
            });
        }
        if !posting.pdf.starts_with(b"%PDF") {
            return Ok(PostHandoff::Refused {
                reason: "the document is not a PDF".into(),
            });
        }
        let letter = Accepted {
            reference: fresh_reference("SIM-POST-").to_uppercase(),
            at: Utc::now(),
            deliverable: !Self::is_undeliverable(posting.postal_code),
        };
        let stored = self.records.first("post", key, || {
            serde_json::to_value(&letter).unwrap_or_default()
        })?;
        let letter: Accepted = serde_json::from_value(stored).map_err(|e| e.to_string())?;
        self.records.first("post-letter", &letter.reference, || {
            serde_json::to_value(&letter).unwrap_or_default()
        })?;
        Ok(PostHandoff::Accepted {
            reference: letter.reference,
        })
    }

    fn track(&self, reference: &str) -> Result<Tracking, String> {
        let Some(letter) = self.records.get_as::<Accepted>("post-letter", reference)? else {
            // Accepted before the post kept its records here: long delivered.
            return Ok(Tracking::Delivered);
        };
        let age = (Utc::now() - letter.at).to_std().unwrap_or_default();
        if age < self.delivery_time {
            Ok(Tracking::InTransit)
        } else if letter.deliverable {
            Ok(Tracking::Delivered)
        } else {
            Ok(Tracking::Undeliverable {
                reason: "no such address".into(),
            })
        }
    }
}
