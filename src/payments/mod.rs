//! Payments: the `PaymentProvider` trait the checkout pays through, the card details a
//! checkout form collects, and the mock provider (test mode, no real money).

pub mod card;
pub mod mock;

pub use card::{Card, CardErrors};
pub use mock::MockProvider;

use crate::money::Price;

/// What a provider answers to a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    Approved { reference: String },
    Declined { message: String },
}

/// A payment provider. The mock one lives in the app; a real one replaces it here.
pub trait PaymentProvider: Send + Sync {
    /// Charges `amount` to `card` for the order `order_reference`.
    fn charge(&self, amount: &Price, card: &Card, order_reference: &str) -> PaymentOutcome;

    /// Returns `amount` of the payment `payment_reference` to the card it came from; the
    /// refund's own reference, or why the provider refused.
    fn refund(&self, amount: &Price, payment_reference: &str) -> Result<String, String>;
}
