//! What the messages say: each is composed when it is sent, from the current state, so a
//! changed Warning Email or a Warn Me turned off applies to alerts not yet sent.

use askama::Template;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

use crate::domain::ledger::IapAccount;
use crate::domain::orders::Order;
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, DatabaseId, OrderId};
use crate::platform::schema::{databases, iap_accounts, orders, services, users};

/// A message ready to hand over.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: Vec<Mailbox>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A message to send, or why it should not be sent after all.
#[derive(Debug)]
pub enum Composed {
    Ready(Email),
    Cancelled(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error("could not render the message: {0}")]
    Render(#[from] askama::Error),
    #[error("could not build the message: {0}")]
    Build(String),
}

impl Email {
    /// The MIME message to one recipient (no one sees the others): a plain-text part and an
    /// HTML part. `message_id` stays the same for every attempt, so a receiver can tell a
    /// repeat after a crash from a new message.
    pub fn to_message(
        &self,
        from: &Mailbox,
        to: &Mailbox,
        message_id: String,
    ) -> Result<Message, ComposeError> {
        Message::builder()
            .from(from.clone())
            .to(to.clone())
            .subject(&self.subject)
            .message_id(Some(message_id))
            .multipart(MultiPart::alternative_plain_html(
                self.text.clone(),
                self.html.clone(),
            ))
            .map_err(|e| ComposeError::Build(e.to_string()))
    }
}

/// Facts shared by both messages' templates.
struct AccountFacts {
    account: IapAccount,
    service: String,
    database: String,
}

fn account_facts(conn: &mut PgConnection, account_id: AccountId) -> QueryResult<AccountFacts> {
    let (account, service, database) = iap_accounts::table
        .inner_join(services::table)
        .inner_join(databases::table)
        .filter(iap_accounts::id.eq(account_id))
        .select((IapAccount::as_select(), services::name, databases::name))
        .first(conn)?;
    Ok(AccountFacts {
        account,
        service,
        database,
    })
}

#[derive(Template)]
#[template(path = "mail/low_credit.txt")]
struct LowCreditText<'a> {
    service: &'a str,
    database: &'a str,
    available: Credits,
    threshold: Credits,
    forecast: &'a str,
    buy_url: &'a str,
    account_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/low_credit.html")]
struct LowCreditHtml<'a> {
    service: &'a str,
    database: &'a str,
    available: Credits,
    threshold: Credits,
    forecast: &'a str,
    buy_url: &'a str,
    account_url: &'a str,
}

/// The low-credit alert of an account, unless Warn Me was turned off, the address removed, or
/// the credits are back at or above the threshold since it was queued.
pub fn low_credit_alert(
    conn: &mut PgConnection,
    base_url: &str,
    account_id: AccountId,
) -> Result<Composed, ComposeError> {
    let facts = account_facts(conn, account_id)?;
    let account = &facts.account;
    if !account.warn_me {
        return Ok(Composed::Cancelled("Warn Me was turned off".into()));
    }
    let available = account.available();
    if available >= account.threshold {
        return Ok(Composed::Cancelled(
            "the credits were back above the threshold before it was sent".into(),
        ));
    }
    let to: Vec<Mailbox> = account
        .warning_email
        .split(',')
        .filter_map(|address| address.trim().parse().ok())
        .collect();
    if to.is_empty() {
        return Ok(Composed::Cancelled("no Warning Email is set".into()));
    }
    let account_url = format!("{base_url}/iap/accounts/{}", account.id);
    let buy_url = format!("{account_url}/buy");
    let (service, database) = (facts.service.as_str(), facts.database.as_str());
    let threshold = account.threshold;
    let forecast = crate::domain::ledger::forecast::forecasts(
        conn,
        &[(account.id, available)],
        chrono::Utc::now(),
    )?
    .remove(&account.id)
    .map(|f| f.sentence())
    .unwrap_or_default();
    let forecast = forecast.as_str();
    let text = LowCreditText {
        service,
        database,
        available,
        threshold,
        forecast,
        buy_url: &buy_url,
        account_url: &account_url,
    }
    .render()?;
    let html = LowCreditHtml {
        service,
        database,
        available,
        threshold,
        forecast,
        buy_url: &buy_url,
        account_url: &account_url,
    }
    .render()?;
    Ok(Composed::Ready(Email {
        to,
        subject: format!(
            "Low {service} credits for {database}: {} left",
            available.to_display()
        ),
        text,
        html,
    }))
}

#[derive(Template)]
#[template(path = "mail/receipt.txt")]
struct ReceiptText<'a> {
    order: &'a Order,
    service: &'a str,
    database: &'a str,
    paid_at: DateTime<Utc>,
    order_url: &'a str,
    account_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/receipt.html")]
struct ReceiptHtml<'a> {
    order: &'a Order,
    service: &'a str,
    database: &'a str,
    paid_at: DateTime<Utc>,
    order_url: &'a str,
    account_url: &'a str,
}

/// The receipt of a paid order, to the user who bought it (an automatic top-up's, to the
/// database's administrators).
pub fn receipt(
    conn: &mut PgConnection,
    base_url: &str,
    order_id: OrderId,
) -> Result<Composed, ComposeError> {
    let (order, buyer): (Order, Option<String>) = orders::table
        .left_join(users::table)
        .filter(orders::id.eq(order_id))
        .select((Order::as_select(), users::email.nullable()))
        .first(conn)?;
    let Some(paid_at) = order.paid_at else {
        return Ok(Composed::Cancelled("the order is not paid".into()));
    };
    let to: Vec<Mailbox> = match buyer {
        Some(email) => email.parse::<Mailbox>().ok().into_iter().collect(),
        None if order.auto_topup => admins(conn, order.database_id)?,
        None => Vec::new(),
    };
    if to.is_empty() {
        return Ok(Composed::Cancelled(
            "the buyer's user no longer exists".into(),
        ));
    }
    let facts = account_facts(conn, order.account_id)?;
    let (service, database) = (facts.service.as_str(), facts.database.as_str());
    let order_url = format!("{base_url}/orders/{}", order.id);
    let account_url = format!("{base_url}/iap/accounts/{}", order.account_id);
    let text = ReceiptText {
        order: &order,
        service,
        database,
        paid_at,
        order_url: &order_url,
        account_url: &account_url,
    }
    .render()?;
    let html = ReceiptHtml {
        order: &order,
        service,
        database,
        paid_at,
        order_url: &order_url,
        account_url: &account_url,
    }
    .render()?;
    Ok(Composed::Ready(Email {
        to,
        subject: format!(
            "Receipt for your order {}: {} {}",
            order.number(),
            service,
            order.pack_name
        ),
        text,
        html,
    }))
}

/// The database's administrators' addresses.
fn admins(conn: &mut PgConnection, database_id: DatabaseId) -> QueryResult<Vec<Mailbox>> {
    let emails: Vec<String> = users::table
        .filter(users::database_id.eq(database_id))
        .filter(users::role.eq("admin"))
        .order(users::id)
        .select(users::email)
        .load(conn)?;
    Ok(emails.iter().filter_map(|e| e.parse().ok()).collect())
}

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct NoticeText<'a> {
    lines: &'a [String],
    link_text: &'a str,
    link_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/notice.html")]
struct NoticeHtml<'a> {
    title: &'a str,
    lines: &'a [String],
    link_text: &'a str,
    link_url: &'a str,
}

/// A short notice to the database's administrators: paragraphs and one link.
fn notice(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    subject: String,
    lines: &[String],
    link_text: &str,
    link_url: &str,
) -> Result<Composed, ComposeError> {
    let to = admins(conn, database_id)?;
    if to.is_empty() {
        return Ok(Composed::Cancelled(
            "the database has no administrator".into(),
        ));
    }
    let text = NoticeText {
        lines,
        link_text,
        link_url,
    }
    .render()?;
    let html = NoticeHtml {
        title: &subject,
        lines,
        link_text,
        link_url,
    }
    .render()?;
    Ok(Composed::Ready(Email {
        to,
        subject,
        text,
        html,
    }))
}

/// An automatic top-up was declined; it is tried again (unless switched off since).
pub fn auto_topup_declined(
    conn: &mut PgConnection,
    base_url: &str,
    account_id: AccountId,
    order_id: OrderId,
) -> Result<Composed, ComposeError> {
    let facts = account_facts(conn, account_id)?;
    let order: Order = orders::table
        .find(order_id)
        .select(Order::as_select())
        .first(conn)?;
    let message = crate::domain::orders::payment::attempts_of(conn, order_id)?
        .pop()
        .and_then(|a| a.message)
        .unwrap_or_default();
    let mut lines = vec![format!(
        "The automatic top-up of your {} credits for {} ({}, {} credits for {}) was declined: {}",
        facts.service,
        facts.database,
        order.number(),
        order.credits.to_display(),
        order.price(),
        message
    )];
    match order.next_attempt_at {
        Some(at) if order.status == crate::domain::orders::OrderStatus::Pending => lines.push(format!(
            "We will try again at {}. After 3 declines in a row the automatic top-up switches itself off.",
            at.format("%Y-%m-%d %H:%M UTC")
        )),
        _ => {}
    }
    lines.push("You can choose another card on the account's page.".into());
    let account_url = format!("{base_url}/iap/accounts/{account_id}");
    notice(
        conn,
        facts.account.database_id,
        format!(
            "Automatic top-up of {} credits declined for {}",
            facts.service, facts.database
        ),
        &lines,
        "Account Information",
        &account_url,
    )
}

/// An automatic top-up switched itself off (or was switched off since, then nothing is said).
pub fn auto_topup_stopped(
    conn: &mut PgConnection,
    base_url: &str,
    account_id: AccountId,
) -> Result<Composed, ComposeError> {
    let facts = account_facts(conn, account_id)?;
    let Some(settings) = crate::domain::topup::find(conn, account_id)? else {
        return Ok(Composed::Cancelled("no automatic top-up".into()));
    };
    let Some(reason) = settings.stopped_sentence() else {
        return Ok(Composed::Cancelled(
            "the automatic top-up was turned on again".into(),
        ));
    };
    let lines = vec![
        format!(
            "The automatic top-up of your {} credits for {} is off: {reason}.",
            facts.service, facts.database
        ),
        format!(
            "The account has {} credits available. Turn the automatic top-up on again, or buy credits, on the account's page.",
            facts.account.available().to_display()
        ),
    ];
    let account_url = format!("{base_url}/iap/accounts/{account_id}");
    notice(
        conn,
        facts.account.database_id,
        format!(
            "Automatic top-up of {} credits switched off for {}",
            facts.service, facts.database
        ),
        &lines,
        "Account Information",
        &account_url,
    )
}
