//! The "Top up automatically" section of Account Information (administrators): its fields as
//! saved or as typed, with a message per field, and what the top-up did this month. Its form
//! is posted to `iap_accounts::save_topup`.

use serde::Deserialize;

use crate::domain::catalog::{self, Pack};
use crate::domain::ledger::IapAccount;
use crate::domain::orders::{self, Order};
use crate::domain::payments::methods::{self, PaymentMethod};
use crate::domain::topup::{self, AutoTopup, Cap, TopupErrors, TopupFields};
use crate::http::error::AppError;
use crate::kernel::money::Price;

/// Everything the section shows.
pub struct TopupSection {
    pub fields: TopupFields,
    pub errors: TopupErrors,
    pub saved: bool,
    pub settings: Option<AutoTopup>,
    pub packs: Vec<Pack>,
    pub cards: Vec<PaymentMethod>,
    /// This month's top-ups: how many, and their amount.
    pub month_count: i64,
    pub month_amount: Option<Price>,
    pub recent: Vec<Order>,
}

impl TopupSection {
    pub fn is_on(&self) -> bool {
        self.settings.as_ref().is_some_and(|s| s.enabled)
    }

    /// "at most 3 top-ups a month" / "at most 200.00 EUR a month".
    pub fn cap_text(&self) -> String {
        let Some(settings) = &self.settings else {
            return String::new();
        };
        let currency = self
            .packs
            .first()
            .map(|p| p.currency.clone())
            .unwrap_or_else(crate::kernel::money::Currency::eur);
        match settings.cap() {
            Cap::TopUps(1) => "at most 1 top-up a month".into(),
            Cap::TopUps(n) => format!("at most {n} top-ups a month"),
            Cap::Amount(minor) => format!("at most {} a month", Price::new(minor, currency)),
        }
    }

    pub fn pack_name(&self) -> String {
        let id = self.settings.as_ref().map(|s| s.pack_id);
        self.packs
            .iter()
            .find(|p| Some(p.id) == id)
            .map(|p| {
                format!(
                    "{} ({} credits, {})",
                    p.name,
                    p.credits.to_display(),
                    p.price()
                )
            })
            .unwrap_or_default()
    }

    pub fn card_label(&self) -> String {
        let id = self.settings.as_ref().and_then(|s| s.payment_method_id);
        self.cards
            .iter()
            .find(|c| Some(c.id) == id)
            .map(PaymentMethod::label)
            .unwrap_or_default()
    }
}

/// The form's fields from the saved settings, or the defaults: trigger at the Threshold, the
/// service's second pack (the first when it has one), 3 top-ups a month, the first card.
fn fields_of(
    account: &IapAccount,
    settings: Option<&AutoTopup>,
    packs: &[Pack],
    cards: &[PaymentMethod],
) -> TopupFields {
    match settings {
        Some(s) => {
            let (cap_kind, cap_count, cap_amount) = match s.cap() {
                Cap::TopUps(n) => ("count", n.to_string(), String::new()),
                Cap::Amount(minor) => (
                    "amount",
                    "3".to_string(),
                    Price::new(minor, crate::kernel::money::Currency::eur()).amount_text(),
                ),
            };
            TopupFields {
                enabled: s.enabled,
                below: s.below.to_form_text(),
                pack_id: s.pack_id.to_string(),
                cap_kind: cap_kind.into(),
                cap_count,
                cap_amount,
                payment_method_id: s
                    .payment_method_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
            }
        }
        None => TopupFields {
            enabled: false,
            below: if account.threshold.units() > 0 {
                account.threshold.to_form_text()
            } else {
                String::new()
            },
            pack_id: packs
                .get(1)
                .or(packs.first())
                .map(|p| p.id.to_string())
                .unwrap_or_default(),
            cap_kind: "count".into(),
            cap_count: "3".into(),
            cap_amount: String::new(),
            payment_method_id: cards.first().map(|c| c.id.to_string()).unwrap_or_default(),
        },
    }
}

/// The section of the account's page; `typed` is a refused form to show again.
/// The top-up form showing what an Odoo database proposed (on, `below`, `pack`), over the
/// account's current settings, for an administrator to confirm by saving it.
pub fn proposed(
    conn: &mut diesel::PgConnection,
    database_id: crate::kernel::ids::DatabaseId,
    account_id: crate::kernel::ids::AccountId,
    below: &Option<String>,
    pack: &Option<String>,
) -> Result<Option<(TopupFields, TopupErrors)>, AppError> {
    let Some(account) =
        crate::domain::ledger::accounts::of_database(conn, database_id, account_id)?
    else {
        return Ok(None);
    };
    let settings = topup::find(conn, account.id)?;
    let packs = catalog::active_packs(conn, account.service_id)?;
    let cards = methods::of_database(conn, account.database_id)?;
    let mut fields = fields_of(&account, settings.as_ref(), &packs, &cards);
    fields.enabled = true;
    if let Some(below) = below {
        fields.below = below.chars().take(30).collect();
    }
    if let Some(pack) = pack {
        fields.pack_id = pack.chars().take(20).collect();
    }
    Ok(Some((fields, TopupErrors::default())))
}

pub fn load_section(
    conn: &mut diesel::PgConnection,
    account: &IapAccount,
    typed: Option<(TopupFields, TopupErrors)>,
) -> Result<TopupSection, AppError> {
    let settings = topup::find(conn, account.id)?;
    let packs = catalog::active_packs(conn, account.service_id)?;
    let cards = methods::of_database(conn, account.database_id)?;
    let now = chrono::Utc::now();
    let (month_count, month_minor) = orders::auto::month_usage(conn, account.id, now)?;
    let recent = orders::auto::recent(conn, account.id, 5)?;
    let month_amount = recent
        .first()
        .map(|o| Price::new(month_minor, o.currency.clone()));
    let (fields, errors) = typed.unwrap_or_else(|| {
        (
            fields_of(account, settings.as_ref(), &packs, &cards),
            TopupErrors::default(),
        )
    });
    Ok(TopupSection {
        fields,
        errors,
        saved: false,
        settings,
        packs,
        cards,
        month_count,
        month_amount,
        recent,
    })
}

/// The form as posted.
#[derive(Deserialize)]
pub struct TopupForm {
    enabled: Option<String>,
    below: String,
    pack_id: String,
    cap_kind: String,
    cap_count: Option<String>,
    cap_amount: Option<String>,
    payment_method_id: Option<String>,
}

impl TopupForm {
    /// The fields as typed, trimmed.
    pub fn fields(self) -> TopupFields {
        TopupFields {
            enabled: self.enabled.is_some(),
            below: self.below.trim().to_string(),
            pack_id: self.pack_id.trim().to_string(),
            cap_kind: if self.cap_kind == "amount" {
                "amount"
            } else {
                "count"
            }
            .to_string(),
            cap_count: self.cap_count.unwrap_or_default().trim().to_string(),
            cap_amount: self.cap_amount.unwrap_or_default().trim().to_string(),
            payment_method_id: self
                .payment_method_id
                .unwrap_or_default()
                .trim()
                .to_string(),
        }
    }
}
