//! The mock provider: behaves like a real provider's test mode. 4242 4242 4242 4242 is
//! approved; 4000 0000 0000 0002 is declined; 4000 0000 0000 9995 is declined for
//! insufficient funds; any other valid number is approved.

use rand::Rng;
use rand::distr::Alphanumeric;

use super::{Card, PaymentOutcome, PaymentProvider};
use crate::money::Price;

pub const APPROVED_CARD: &str = "4242424242424242";
pub const DECLINED_CARD: &str = "4000000000000002";
pub const INSUFFICIENT_FUNDS_CARD: &str = "4000000000009995";

#[derive(Debug, Default, Clone)]
pub struct MockProvider;

impl PaymentProvider for MockProvider {
    fn charge(&self, _amount: &Price, card: &Card, _order_reference: &str) -> PaymentOutcome {
        match card.number.as_str() {
            DECLINED_CARD => PaymentOutcome::Declined {
                message: "Your card was declined.".into(),
            },
            INSUFFICIENT_FUNDS_CARD => PaymentOutcome::Declined {
                message: "Your card has insufficient funds.".into(),
            },
            _ => PaymentOutcome::Approved {
                reference: reference("mock"),
            },
        }
    }

    /// Like a provider's test mode: refunds of its own payments succeed, anything else is
    /// refused.
    fn refund(&self, _amount: &Price, payment_reference: &str) -> Result<String, String> {
        if payment_reference.starts_with("mock_") {
            Ok(reference("mock_refund"))
        } else {
            Err(format!("no payment {payment_reference:?} to refund"))
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
