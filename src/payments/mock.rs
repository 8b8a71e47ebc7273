//! The mock provider: behaves like a real provider's test mode. 4242 4242 4242 4242 is
//! approved; 4000 0000 0000 0002 is declined; 4000 0000 0000 9995 is declined for
//! insufficient funds; any other valid number is approved.

use rand::Rng;
use rand::distr::Alphanumeric;

use super::{Card, PaymentOutcome, PaymentProvider};
use crate::catalog::Price;

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
                reference: format!(
                    "mock_{}",
                    rand::rng()
                        .sample_iter(Alphanumeric)
                        .take(20)
                        .map(char::from)
                        .collect::<String>()
                ),
            },
        }
    }
}
