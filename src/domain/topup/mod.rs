//! Automatic top-up: when a debit takes an account's available credits below its trigger, the
//! database orders a pack in that debit's transaction (`auto_topup_order`, migration 000025 —
//! one order per crossing, whatever path debited, however many debits race), and `pay_due`
//! pays it with the saved card outside any transaction, through the orders' two-phase payment.
//! A decline emails the admins and is retried with back-off; the third decline in a row, or a
//! top-up the month's cap cannot allow, switches it off and says so. Owner of `auto_topups`.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use crate::domain::orders::{self, OrderError, OrderStatus, PaymentResult, PaymentSource};
use crate::domain::payments::PaymentProvider;
use crate::domain::payments::methods::{self, PaymentMethod};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, DatabaseId, OrderId, PackId, PaymentMethodId, UserId};
use crate::kernel::money::Price;
use crate::platform::schema::{auto_topups, iap_accounts};

/// Declines in a row that switch the top-up off.
pub const MAX_DECLINES: i32 = 3;
/// The wait before retrying after the first and the second decline.
const RETRY_AFTER_SECONDS: [i64; 2] = [5 * 60, 30 * 60];
/// At most this many top-ups a month can be asked for.
pub const MAX_TOPUPS_A_MONTH: i32 = 100;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = auto_topups, check_for_backend(diesel::pg::Pg))]
pub struct AutoTopup {
    pub account_id: AccountId,
    pub database_id: DatabaseId,
    pub enabled: bool,
    pub below: Credits,
    pub pack_id: PackId,
    pub cap_count: Option<i32>,
    pub cap_amount_minor: Option<i64>,
    pub payment_method_id: Option<PaymentMethodId>,
    pub declines_in_row: i32,
    pub stopped_reason: Option<String>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl AutoTopup {
    pub fn cap(&self) -> Cap {
        match (self.cap_count, self.cap_amount_minor) {
            (_, Some(minor)) => Cap::Amount(minor),
            (count, None) => Cap::TopUps(count.unwrap_or(1)),
        }
    }

    /// Why it switched itself off, as a sentence; `None` while on or turned off by a person.
    pub fn stopped_sentence(&self) -> Option<&'static str> {
        Some(stopped_sentence(self.stopped_reason.as_deref()?))
    }
}

/// Why an automatic top-up switched itself off, as people read it.
pub fn stopped_sentence(reason: &str) -> &'static str {
    match reason {
        "cap" => "the next top-up would have gone over this month's limit",
        "declined" => "the card was declined 3 times in a row",
        "card_removed" => "its card was removed",
        "pack_withdrawn" => "its pack is no longer on sale",
        _ => "it was stopped",
    }
}

/// The most top-ups a calendar month may bring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    TopUps(i32),
    /// In minor units of the pack's currency.
    Amount(i64),
}

/// Settings as validated from a form (or Odoo's call).
#[derive(Debug, Clone)]
pub struct TopupSettings {
    pub enabled: bool,
    pub below: Credits,
    pub pack_id: PackId,
    pub cap: Cap,
    pub payment_method_id: Option<PaymentMethodId>,
}

/// Why settings were refused, field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopupErrors {
    pub below: Option<String>,
    pub pack: Option<String>,
    pub cap: Option<String>,
    pub card: Option<String>,
}

impl TopupErrors {
    pub fn is_empty(&self) -> bool {
        *self == TopupErrors::default()
    }
}

/// The form's fields as typed.
#[derive(Debug, Clone, Default)]
pub struct TopupFields {
    pub enabled: bool,
    pub below: String,
    pub pack_id: String,
    /// "count" or "amount".
    pub cap_kind: String,
    pub cap_count: String,
    pub cap_amount: String,
    pub payment_method_id: String,
}

impl TopupSettings {
    /// Parses the fields on their own; `save` checks them against the account (its packs,
    /// the database's cards).
    pub fn parse(fields: &TopupFields) -> Result<TopupSettings, TopupErrors> {
        let mut errors = TopupErrors::default();
        let below = match Credits::parse(fields.below.trim()) {
            Ok(c) if c.units() > 0 => Some(c),
            Ok(_) => {
                errors.below = Some("Enter an amount of credits above 0.".into());
                None
            }
            Err(e) => {
                errors.below = Some(format!("Credits: {e}."));
                None
            }
        };
        let pack_id = fields.pack_id.trim().parse::<PackId>().ok();
        if pack_id.is_none() {
            errors.pack = Some("Choose the pack to buy.".into());
        }
        let cap = match fields.cap_kind.as_str() {
            "amount" => match Price::parse_minor(&fields.cap_amount) {
                Ok(minor) if minor > 0 => Some(Cap::Amount(minor)),
                _ => {
                    errors.cap = Some("Enter an amount such as 100 or 99.50.".into());
                    None
                }
            },
            _ => match fields.cap_count.trim().parse::<i32>() {
                Ok(n) if (1..=MAX_TOPUPS_A_MONTH).contains(&n) => Some(Cap::TopUps(n)),
                _ => {
                    errors.cap = Some(format!(
                        "Enter a number of top-ups from 1 to {MAX_TOPUPS_A_MONTH}."
                    ));
                    None
                }
            },
        };
        let payment_method_id = match fields.payment_method_id.trim() {
            "" => None,
            id => match id.parse::<PaymentMethodId>() {
                Ok(id) => Some(id),
                Err(_) => {
                    errors.card = Some("Choose a saved card.".into());
                    None
                }
            },
        };
        if fields.enabled && payment_method_id.is_none() && errors.card.is_none() {
            errors.card = Some("Choose the card to pay with (save one on Payment methods).".into());
        }
        match (below, pack_id, cap) {
            (Some(below), Some(pack_id), Some(cap)) if errors.is_empty() => Ok(TopupSettings {
                enabled: fields.enabled,
                below,
                pack_id,
                cap,
                payment_method_id,
            }),
            _ => Err(errors),
        }
    }
}

/// The account's settings, if any were ever saved.
pub fn find(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<Option<AutoTopup>> {
    auto_topups::table
        .find(account_id)
        .select(AutoTopup::as_select())
        .first(conn)
        .optional()
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = auto_topups, treat_none_as_null = true)]
struct SettingsRow {
    database_id: DatabaseId,
    enabled: bool,
    below: Credits,
    pack_id: PackId,
    cap_count: Option<i32>,
    cap_amount_minor: Option<i64>,
    payment_method_id: Option<PaymentMethodId>,
    declines_in_row: i32,
    stopped_reason: Option<String>,
    stopped_at: Option<DateTime<Utc>>,
    updated_by: Option<UserId>,
    updated_at: DateTime<Utc>,
}

/// Saves the account's settings (the account must be the database's). Turning it on clears a
/// past stop and its declines; if the account is already below the trigger, the first top-up
/// is ordered at once. Answers the saved settings, or the fields refused.
pub fn save(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    account_id: AccountId,
    user_id: Option<UserId>,
    settings: &TopupSettings,
) -> QueryResult<Result<AutoTopup, TopupErrors>> {
    conn.transaction(|conn| {
        // The account's row lock: a debit racing this save takes its turn before or after.
        let Some((service_id, available)) = iap_accounts::table
            .filter(iap_accounts::id.eq(account_id))
            .filter(iap_accounts::database_id.eq(database_id))
            .select((
                iap_accounts::service_id,
                iap_accounts::balance - iap_accounts::reserved,
            ))
            .for_update()
            .first::<(crate::kernel::ids::ServiceId, i64)>(conn)
            .optional()?
        else {
            return Err(diesel::result::Error::NotFound);
        };
        let mut errors = TopupErrors::default();
        let pack = crate::domain::catalog::pack_on_sale(conn, service_id, settings.pack_id)?;
        match &pack {
            None => errors.pack = Some("This pack is not on sale for this service.".into()),
            Some(pack) => {
                if let Cap::Amount(minor) = settings.cap
                    && minor < pack.price_minor
                {
                    errors.cap = Some(format!(
                        "The limit is less than one {} pack ({}).",
                        pack.name,
                        pack.price()
                    ));
                }
            }
        }
        if let Some(id) = settings.payment_method_id {
            match methods::find(conn, database_id, id)? {
                None => errors.card = Some("Choose one of the saved cards.".into()),
                Some(card) if settings.enabled && card.is_expired(Utc::now()) => {
                    errors.card = Some("This card has expired; save a new one.".into());
                }
                Some(_) => {}
            }
        }
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        let (cap_count, cap_amount_minor) = match settings.cap {
            Cap::TopUps(n) => (Some(n), None),
            Cap::Amount(minor) => (None, Some(minor)),
        };
        let previous = find(conn, account_id)?;
        let keep_stop = !settings.enabled;
        let row = SettingsRow {
            database_id,
            enabled: settings.enabled,
            below: settings.below,
            pack_id: settings.pack_id,
            cap_count,
            cap_amount_minor,
            payment_method_id: settings.payment_method_id,
            declines_in_row: if settings.enabled {
                0
            } else {
                previous.as_ref().map_or(0, |p| p.declines_in_row)
            },
            stopped_reason: previous
                .as_ref()
                .and_then(|p| p.stopped_reason.clone())
                .filter(|_| keep_stop),
            stopped_at: previous
                .as_ref()
                .and_then(|p| p.stopped_at)
                .filter(|_| keep_stop),
            updated_by: user_id,
            updated_at: Utc::now(),
        };
        diesel::insert_into(auto_topups::table)
            .values((auto_topups::account_id.eq(account_id), &row))
            .on_conflict(auto_topups::account_id)
            .do_update()
            .set(&row)
            .execute(conn)?;
        if settings.enabled && available < settings.below.units() {
            order_now(conn, account_id)?;
        }
        let saved = find(conn, account_id)?.ok_or(diesel::result::Error::NotFound)?;
        Ok(Ok(saved))
    })
}

/// Orders the account's top-up now if its settings and the cap allow (the database's own
/// `auto_topup_order`, which the debit trigger calls). The caller holds the account's lock.
fn order_now(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<Option<OrderId>> {
    #[derive(QueryableByName)]
    struct Ordered {
        #[diesel(sql_type = Nullable<BigInt>)]
        id: Option<OrderId>,
    }
    let ordered: Ordered = diesel::sql_query("SELECT auto_topup_order($1) AS id")
        .bind::<BigInt, _>(account_id)
        .get_result(conn)?;
    Ok(ordered.id)
}

/// Switches the account's top-up off because of `reason` (emailing the admins), if it is on.
fn stop(
    conn: &mut PgConnection,
    account_id: AccountId,
    reason: &str,
    order_id: Option<OrderId>,
) -> QueryResult<()> {
    diesel::sql_query("SELECT auto_topup_stop($1, $2, $3)")
        .bind::<BigInt, _>(account_id)
        .bind::<Text, _>(reason)
        .bind::<Nullable<BigInt>, _>(order_id)
        .execute(conn)?;
    Ok(())
}

/// Removes a saved card of the database: the top-ups paid with it switch off (saying so), then
/// the card is deleted here and forgotten by the provider. Answers the removed card.
pub fn remove_card(
    conn: &mut PgConnection,
    provider: &dyn PaymentProvider,
    database_id: DatabaseId,
    method_id: PaymentMethodId,
) -> QueryResult<Option<PaymentMethod>> {
    let removed = conn.transaction(|conn| {
        let users: Vec<AccountId> = auto_topups::table
            .filter(auto_topups::payment_method_id.eq(method_id))
            .filter(auto_topups::database_id.eq(database_id))
            .select(auto_topups::account_id)
            .for_update()
            .load(conn)?;
        for account_id in &users {
            stop(conn, *account_id, "card_removed", None)?;
        }
        diesel::update(auto_topups::table.filter(auto_topups::account_id.eq_any(&users)))
            .set(auto_topups::payment_method_id.eq(None::<PaymentMethodId>))
            .execute(conn)?;
        methods::delete(conn, database_id, method_id)
    })?;
    if let Some(card) = &removed {
        provider.remove_card(&card.provider_token);
    }
    Ok(removed)
}

/// For each saved card of the database, the services whose automatic top-up (on) it pays.
pub fn services_by_card(
    conn: &mut PgConnection,
    database_id: DatabaseId,
) -> QueryResult<std::collections::HashMap<PaymentMethodId, Vec<String>>> {
    use crate::platform::schema::services;
    let rows: Vec<(Option<PaymentMethodId>, String)> = auto_topups::table
        .inner_join(iap_accounts::table.inner_join(services::table))
        .filter(auto_topups::database_id.eq(database_id))
        .filter(auto_topups::enabled.eq(true))
        .order(services::name)
        .select((auto_topups::payment_method_id, services::name))
        .load(conn)?;
    let mut by_card = std::collections::HashMap::<PaymentMethodId, Vec<String>>::new();
    for (card, service) in rows {
        if let Some(card) = card {
            by_card.entry(card).or_default().push(service);
        }
    }
    Ok(by_card)
}

/// What one run of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TopupRun {
    pub paid: usize,
    pub declined: usize,
    /// Switched off or without a card: closed unpaid.
    pub dropped: usize,
}

/// Pays the top-ups due at `now` with their saved cards (no transaction open while the
/// provider is called), up to `limit`.
pub fn pay_due(
    conn: &mut PgConnection,
    provider: &dyn PaymentProvider,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<TopupRun, OrderError> {
    let mut run = TopupRun::default();
    for order in orders::auto::claim_due(conn, now, limit)? {
        let settings = find(conn, order.account_id)?.filter(|s| s.enabled);
        let card = match order.payment_method_id {
            Some(id) => methods::by_id(conn, id)?,
            None => None,
        };
        let (Some(_), Some(card)) = (settings, card) else {
            // Switched off, or its card removed, since it was ordered.
            orders::auto::close(conn, order.id, OrderStatus::Expired)?;
            run.dropped += 1;
            continue;
        };
        let source = PaymentSource::Saved {
            token: &card.provider_token,
            last4: &card.last4,
        };
        match orders::pay_with(conn, order.database_id, order.id, source, provider) {
            Ok(PaymentResult::Paid { .. }) => {
                diesel::update(auto_topups::table.find(order.account_id))
                    .set(auto_topups::declines_in_row.eq(0))
                    .execute(conn)?;
                tracing::info!(order = %order.id, account = %order.account_id, "top-up paid");
                run.paid += 1;
            }
            Ok(PaymentResult::Declined { message, .. }) => {
                declined(conn, order.account_id, order.id, now)?;
                tracing::info!(order = %order.id, "top-up declined: {message}");
                run.declined += 1;
            }
            Ok(PaymentResult::Locked(_)) => {
                // Closed after its declines: the top-up stops as after three in a row.
                stop(conn, order.account_id, "declined", Some(order.id))?;
            }
            Ok(PaymentResult::AlreadyPaid(_) | PaymentResult::Expired(_)) => {}
            // Another attempt is in flight (its claim ran out): the reconciler finishes it.
            Err(OrderError::PaymentUnderWay) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(run)
}

/// Records a decline: the third in a row switches the top-up off and closes the order; before
/// that the order is retried later and the admins are told.
fn declined(
    conn: &mut PgConnection,
    account_id: AccountId,
    order_id: OrderId,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        let declines: i32 = diesel::update(auto_topups::table.find(account_id))
            .set(auto_topups::declines_in_row.eq(auto_topups::declines_in_row + 1))
            .returning(auto_topups::declines_in_row)
            .get_result(conn)?;
        if declines >= MAX_DECLINES {
            orders::auto::close(conn, order_id, OrderStatus::Declined)?;
            stop(conn, account_id, "declined", Some(order_id))
        } else {
            let wait = RETRY_AFTER_SECONDS[(declines as usize - 1).min(1)];
            orders::auto::retry_at(conn, order_id, now + Duration::seconds(wait))?;
            // The admins' email is queued by the database, as every email is.
            diesel::sql_query("SELECT auto_topup_declined($1, $2)")
                .bind::<BigInt, _>(account_id)
                .bind::<BigInt, _>(order_id)
                .execute(conn)?;
            Ok(())
        }
    })
}

/// Odoo's auto-refill settings (`/iap/1/update-auto-refill-settings`): a threshold ("this many
/// credits or less") and a pack, either of them 0 to switch it off. Odoo has no card or limit
/// of its own: the saved settings keep theirs; the first time, the database's first saved card
/// and 3 top-ups a month. Answers why it cannot be on, as Odoo shows it.
pub fn set_from_odoo(
    conn: &mut PgConnection,
    account: &crate::domain::ledger::IapAccount,
    threshold: Credits,
    pack_id: Option<PackId>,
) -> QueryResult<Result<(), String>> {
    let previous = find(conn, account.id)?;
    let on = threshold.units() > 0 && pack_id.is_some();
    if !on {
        let Some(previous) = previous else {
            return Ok(Ok(()));
        };
        let settings = TopupSettings {
            enabled: false,
            below: previous.below,
            pack_id: previous.pack_id,
            cap: previous.cap(),
            payment_method_id: previous.payment_method_id,
        };
        return Ok(
            save(conn, account.database_id, account.id, None, &settings)?
                .map(|_| ())
                .map_err(|e| odoo_message(&e)),
        );
    }
    let card = match previous.as_ref().and_then(|p| p.payment_method_id) {
        Some(card) => Some(card),
        None => methods::of_database(conn, account.database_id)?
            .into_iter()
            .find(|c| !c.is_expired(Utc::now()))
            .map(|c| c.id),
    };
    let Some(card) = card else {
        return Ok(Err(
            "No card is saved for automatic top-ups: an administrator adds one in Settings → Payment methods."
                .into(),
        ));
    };
    let settings = TopupSettings {
        enabled: true,
        // "This many or less": below the next 0.0001.
        below: Credits::from_units(threshold.units().saturating_add(1)),
        pack_id: pack_id.unwrap_or(PackId(0)),
        cap: previous.as_ref().map_or(Cap::TopUps(3), AutoTopup::cap),
        payment_method_id: Some(card),
    };
    Ok(
        save(conn, account.database_id, account.id, None, &settings)?
            .map(|_| ())
            .map_err(|e| odoo_message(&e)),
    )
}

/// Whether Odoo's change (made with the account token alone) only lowers what the saved card
/// may be charged: switching off, or — while on — a threshold no higher and a pack no dearer
/// than now. The token is handed to services and providers: anything else (turning it on,
/// raising it) takes an administrator's consent on the Account Information page.
pub fn odoo_change_only_lowers(
    conn: &mut PgConnection,
    account: &crate::domain::ledger::IapAccount,
    threshold: Credits,
    pack_id: Option<PackId>,
) -> QueryResult<bool> {
    let Some(pack_id) = pack_id.filter(|_| threshold.units() > 0) else {
        return Ok(true);
    };
    let previous = find(conn, account.id)?;
    let (old_threshold, Some(old_pack)) = odoo_view(previous.as_ref()) else {
        return Ok(false);
    };
    if threshold > old_threshold {
        return Ok(false);
    }
    let (Some(old), Some(new)) = (
        crate::domain::catalog::pack(conn, old_pack)?,
        crate::domain::catalog::pack(conn, pack_id)?,
    ) else {
        return Ok(false);
    };
    Ok(new.currency == old.currency && new.price_minor <= old.price_minor)
}

/// Odoo's view of the settings: (threshold, pack) — "this many or less", 0 and none when off.
pub fn odoo_view(settings: Option<&AutoTopup>) -> (Credits, Option<PackId>) {
    match settings {
        Some(s) if s.enabled => (Credits::from_units(s.below.units() - 1), Some(s.pack_id)),
        _ => (Credits::ZERO, None),
    }
}

fn odoo_message(errors: &TopupErrors) -> String {
    [&errors.below, &errors.pack, &errors.cap, &errors.card]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}
