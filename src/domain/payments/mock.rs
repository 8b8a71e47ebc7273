//! The mock provider: behaves like a real provider's test mode. 4242 4242 4242 4242 is
//! approved; 4000 0000 0000 0002 is declined; 4000 0000 0000 9995 is declined for
//! insufficient funds; 4000 0000 0000 0341 can be saved but every payment with it is declined;
//! any other valid number is approved. A saved card's token says how its payments end (like a
//! provider's test tokens), so saved cards outlive the process as a real provider's do. Like a
//! real provider it remembers each idempotency key's outcome (`simulation::Records`: in the
//! database for the server, shared by its instances): a repeat charges nothing and answers the
//! same, and `lookup` tells what became of a key.

use rand::Rng;
use rand::distr::Alphanumeric;

use super::{Card, PaymentOutcome, PaymentProvider, RefundOutcome};
use crate::kernel::money::Price;
use crate::platform::simulation::Records;

pub const APPROVED_CARD: &str = "4242424242424242";
pub const DECLINED_CARD: &str = "4000000000000002";
pub const INSUFFICIENT_FUNDS_CARD: &str = "4000000000009995";
/// Saved without trouble; every payment with it is declined.
pub const SAVED_THEN_DECLINED_CARD: &str = "4000000000000341";

/// Each idempotency key's outcome, as the provider's own records (`payment` and `refund`).
#[derive(Debug, Default, Clone)]
pub struct MockProvider {
    records: Records,
}

const FAILED: &str = "The payment provider failed; nothing was charged.";

impl MockProvider {
    /// The provider keeping its records in `records` (shared by the server's instances).
    pub fn with_records(records: Records) -> Self {
        MockProvider { records }
    }

    /// The first answer recorded for `key` in `space`, deciding it with `decide` if there is
    /// none; `failed()` when the records cannot be reached.
    fn answer<T: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        space: &str,
        key: &str,
        decide: impl FnOnce() -> T,
        failed: impl FnOnce() -> T,
    ) -> T {
        self.records
            .first_as(space, key, decide)
            .unwrap_or_else(|e| {
                tracing::warn!("the mock payment provider failed: {e}");
                failed()
            })
    }

    fn payment(&self, key: &str, decide: impl FnOnce() -> PaymentOutcome) -> PaymentOutcome {
        self.answer("payment", key, decide, || PaymentOutcome::Declined {
            message: FAILED.into(),
        })
    }
}

impl PaymentProvider for MockProvider {
    fn charge(&self, _amount: &Price, card: &Card, idempotency_key: &str) -> PaymentOutcome {
        self.payment(idempotency_key, || decide(card))
    }

    fn save_card(&self, card: &Card) -> Result<String, String> {
        let class = match card.number.as_str() {
            DECLINED_CARD => return Err("Your card was declined.".into()),
            INSUFFICIENT_FUNDS_CARD => "nofunds",
            SAVED_THEN_DECLINED_CARD => "declined",
            _ => "ok",
        };
        Ok(reference(&format!("mock_pm_{class}")))
    }

    fn charge_saved(&self, _amount: &Price, token: &str, idempotency_key: &str) -> PaymentOutcome {
        self.payment(idempotency_key, || decide_saved(token))
    }

    fn remove_card(&self, _token: &str) {
        // Tokens carry their own behaviour here; nothing is kept to forget.
    }

    fn lookup(&self, idempotency_key: &str) -> Option<PaymentOutcome> {
        self.records.get_as("payment", idempotency_key).ok()?
    }

    /// Like a provider's test mode: refunds of its own payments succeed, anything else is
    /// refused; a key already seen gets its first answer again.
    fn refund(
        &self,
        _amount: &Price,
        payment_reference: &str,
        idempotency_key: &str,
    ) -> RefundOutcome {
        let decide = || {
            if payment_reference.starts_with("mock_") {
                RefundOutcome::Refunded {
                    reference: reference("mock_refund"),
                }
            } else {
                RefundOutcome::Refused {
                    message: format!("no payment {payment_reference:?} to refund"),
                }
            }
        };
        self.answer("refund", idempotency_key, decide, || {
            RefundOutcome::Refused {
                message: "The payment provider failed; nothing was refunded.".into(),
            }
        })
    }

    fn lookup_refund(&self, idempotency_key: &str) -> Option<RefundOutcome> {
        self.records.get_as("refund", idempotency_key).ok()?
    }
}

/// What the test-mode provider decides for a card.
fn decide(card: &Card) -> PaymentOutcome {
    match card.number.as_str() {
        DECLINED_CARD => PaymentOutcome::Declined {
            message: "Your card was declined.".into(),
        },
        INSUFFICIENT_FUNDS_CARD => PaymentOutcome::Declined {
            message: "Your card has insufficient funds.".into(),
        },
        SAVED_THEN_DECLINED_CARD => PaymentOutcome::Declined {
            message: "Your card was declined.".into(),
        },
        _ => PaymentOutcome::Approved {
            reference: reference("mock"),
        },
    }
}

/// What the test-mode provider decides for a saved card's token.
fn decide_saved(token: &str) -> PaymentOutcome {
    if token.starts_with("mock_pm_ok_") {
        PaymentOutcome::Approved {
            reference: reference("mock"),
        }
    } else if token.starts_with("mock_pm_nofunds_") {
        PaymentOutcome::Declined {
            message: "Your card has insufficient funds.".into(),
        }
    } else if token.starts_with("mock_pm_declined_") {
        PaymentOutcome::Declined {
            message: "Your card was declined.".into(),
        }
    } else {
        PaymentOutcome::Declined {
            message: "No such saved card.".into(),
        }
    }
}

fn reference(prefix: &str) -> String {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    format!("{prefix}_{random}")
}
