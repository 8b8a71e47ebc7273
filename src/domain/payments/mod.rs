//! Payments: the `PaymentProvider` trait the checkout pays through, the card details a
//! checkout form collects, and the mock provider (test mode, no real money).

pub mod card;
pub mod methods;
pub mod mock;

pub use card::{Card, CardErrors};
pub use mock::MockProvider;

use crate::kernel::money::Price;

/// What a provider answers to a payment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PaymentOutcome {
    Approved { reference: String },
    Declined { message: String },
}

/// A payment provider. The mock one lives in the app; a real one replaces it here.
pub trait PaymentProvider: Send + Sync {
    /// Charges `amount` to `card`. `idempotency_key` names the attempt: a second call with the
    /// same key is the same payment (the provider answers as it did and charges nothing again).
    fn charge(&self, amount: &Price, card: &Card, idempotency_key: &str) -> PaymentOutcome;

    /// Keeps `card` at the provider for later payments and answers its token (the number
    /// stays with the provider), or why the card cannot be kept.
    fn save_card(&self, card: &Card) -> Result<String, String>;

    /// Charges `amount` to the saved card `token`; `idempotency_key` as for `charge`.
    fn charge_saved(&self, amount: &Price, token: &str, idempotency_key: &str) -> PaymentOutcome;

    /// Forgets the saved card `token` (a card removed by its owner cannot be charged again).
    fn remove_card(&self, token: &str);

    /// What became of the attempt `idempotency_key`, or `None` if the provider never saw it
    /// (then nothing was charged). The reconciler asks this after a crash.
    fn lookup(&self, idempotency_key: &str) -> Option<PaymentOutcome>;

    /// Returns `amount` of the payment `payment_reference` to the card it came from.
    /// `idempotency_key` names the refund: a second call with the same key is the same refund
    /// (answered as before, nothing returned twice).
    fn refund(
        &self,
        amount: &Price,
        payment_reference: &str,
        idempotency_key: &str,
    ) -> RefundOutcome;

    /// What became of the refund `idempotency_key`, or `None` if the provider never saw it
    /// (then nothing was returned). The reconciler asks this after a crash.
    fn lookup_refund(&self, idempotency_key: &str) -> Option<RefundOutcome>;
}

/// The provider's answer to a refund.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RefundOutcome {
    Refunded { reference: String },
    Refused { message: String },
}
