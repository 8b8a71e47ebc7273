//! Snailmail: **Send by Post** prints a PDF (a vendor bill or any uploaded PDF) and posts it to
//! a contact, on the common paid-service steps:
//!
//! - checks first, before anything is held: a complete address in a served country, an A4 PDF
//!   of at most 20 pages (as read once at upload: a quote never reads the file);
//! - **begin**: the postage is held and the letter recorded (`queued`);
//! - **perform**: the letter is handed to the postal provider with its id as the idempotency
//!   key, and its answer saved (`sent`, or `refused`);
//! - **settle**: an accepted letter is charged its postage, a refused one nothing;
//! - then its status follows the provider (`delivered`, `undeliverable`), on the Letters list
//!   and in the contact's chatter, tracked by the maintenance task and whenever the list is
//!   shown.
//!
//! Owner of `letters`; `postage` owns the price table.

pub mod history;
pub mod post;
pub mod postage;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::ledger::Actor;
use crate::domain::metering::{self, Job, MeteringError, PaidService, PerformError, Request};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, ContactId, DatabaseId, DocumentId, JobId, LetterId, UserId};
use crate::platform::schema::letters;
use crate::services::contacts::{self, Contact};
use crate::services::documents::{self, Document};
use post::{PostHandoff, PostalService, Posting, Tracking};
use postage::LetterOptions;

pub const SERVICE: &str = "snailmail";
pub const MAX_PAGES: i32 = 20;
/// Letters per page of the list.
pub const PAGE_SIZE: crate::kernel::pagination::Keyset = crate::kernel::pagination::Keyset(50);

crate::sql_text_enum! {
    /// Where a letter is.
    pub enum LetterStatus {
        /// Paid for by a hold; not handed to the post yet.
        Queued => "queued",
        /// Accepted by the post, and charged.
        Sent => "sent",
        Delivered => "delivered",
        /// Returned by the post (charged: it was posted).
        Undeliverable => "undeliverable",
        /// Refused by the post: not charged.
        Refused => "refused",
        /// The post never answered: not sent, not charged.
        Failed => "failed",
    }
}

impl LetterStatus {
    /// Whether the post took the letter (so it is charged).
    pub fn was_posted(self) -> bool {
        matches!(
            self,
            LetterStatus::Sent | LetterStatus::Delivered | LetterStatus::Undeliverable
        )
    }
}

crate::sql_text_enum! {
    /// Who sent a letter.
    pub enum LetterSource {
        /// A user, with Send by Post.
        App => "app",
        /// An Odoo database's `snailmail` module.
        Odoo => "odoo",
    }
}

fn hold_ttl() -> Duration {
    metering::LEASE * (metering::MAX_ATTEMPTS as u32 + 1)
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = letters, check_for_backend(diesel::pg::Pg))]
pub struct Letter {
    pub id: LetterId,
    pub database_id: DatabaseId,
    pub document_id: DocumentId,
    pub contact_id: Option<ContactId>,
    pub recipient: String,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
    pub pages: i32,
    pub sheets: i32,
    pub colour: bool,
    pub duplex: bool,
    pub cover: bool,
    pub price: Credits,
    pub status: LetterStatus,
    pub provider_reference: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub source: LetterSource,
}

impl Letter {
    pub fn from_odoo(&self) -> bool {
        self.source == LetterSource::Odoo
    }
}

/// Why a letter cannot be sent, said before anything is held.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LetterRefused {
    #[error("Only a PDF can be sent by post.")]
    NotAPdf,
    #[error("The letter has {0} pages; at most {MAX_PAGES} can be posted.")]
    TooManyPages(i32),
    #[error("Page {0} is not A4: only A4 documents can be posted.")]
    NotA4(usize),
    #[error("{0}")]
    Unreadable(String),
    #[error("The contact's address is incomplete: {0} missing. Complete it on the contact's page.")]
    IncompleteAddress(&'static str),
    #[error("Letters to {0} are not posted (no postage zone serves that country).")]
    CountryNotServed(String),
}

/// A letter ready to send: where, how many pages, what it costs.
#[derive(Debug, Clone)]
pub struct Quote {
    pub contact: Contact,
    pub document: Document,
    pub pages: i32,
    pub sheets: i32,
    pub options: LetterOptions,
    pub zone: String,
    pub zone_name: String,
    pub price: Credits,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Refused(#[from] LetterRefused),
    #[error("no such document or contact")]
    NotFound,
    /// A PDF stored before its facts were kept at upload: read it once (`documents::keep_facts`)
    /// and quote again.
    #[error("the document's pages have not been read yet")]
    NotReadYet,
    #[error(transparent)]
    Metering(MeteringError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

crate::from_metering_error!(SendError);

/// The contact's address, as a letter is sent to it.
fn address_of(contact: &Contact) -> Address {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    Address {
        recipient: contact.name.clone(),
        street: text(&contact.street),
        postal_code: text(&contact.postal_code),
        city: text(&contact.city),
        country: text(&contact.country),
    }
}

/// The address's missing part, if any.
fn missing_part(contact: &Contact) -> Option<&'static str> {
    address_of(contact).missing_part()
}

/// A letter as it is written when its price is held: by Send by Post or by an Odoo database.
#[derive(Insertable)]
#[diesel(table_name = letters, check_for_backend(diesel::pg::Pg))]
struct NewLetter<'a> {
    job_id: JobId,
    database_id: DatabaseId,
    document_id: DocumentId,
    contact_id: Option<ContactId>,
    sent_by: Option<UserId>,
    form_key: &'a str,
    #[diesel(embed)]
    address: Address,
    pages: i32,
    sheets: i32,
    #[diesel(embed)]
    options: LetterOptions,
    zone: &'a str,
    price: Credits,
    source: LetterSource,
}

impl NewLetter<'_> {
    fn insert(&self, conn: &mut PgConnection) -> QueryResult<LetterId> {
        diesel::insert_into(letters::table)
            .values(self)
            .returning(letters::id)
            .get_result(conn)
    }
}

/// Where a letter goes.
#[derive(Debug, Clone, Default, PartialEq, Insertable)]
#[diesel(table_name = letters, check_for_backend(diesel::pg::Pg))]
pub struct Address {
    pub recipient: String,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    /// ISO country code.
    pub country: String,
}

impl Address {
    /// The address's missing part, if any.
    pub fn missing_part(&self) -> Option<&'static str> {
        let blank = |v: &str| v.trim().is_empty();
        if blank(&self.recipient) {
            Some("the recipient's name")
        } else if blank(&self.street) {
            Some("the street")
        } else if blank(&self.postal_code) {
            Some("the postal code")
        } else if blank(&self.city) {
            Some("the city")
        } else if blank(&self.country) {
            Some("the country")
        } else {
            None
        }
    }
}

/// The pages of a PDF that can be posted (at most `MAX_PAGES`, every one A4), from what was
/// read of it once.
pub fn printable_pages(facts: &documents::pdf::PdfFacts) -> Result<i32, LetterRefused> {
    let pages = i32::try_from(facts.pages.len()).unwrap_or(i32::MAX);
    if pages > MAX_PAGES {
        return Err(LetterRefused::TooManyPages(pages));
    }
    if let Some(page) = facts.first_page_not_a4() {
        return Err(LetterRefused::NotA4(page));
    }
    Ok(pages)
}

/// What sending the document to the contact would cost, or why it cannot be sent, from what
/// was read of the PDF when it was uploaded.
pub fn quote(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    document_id: DocumentId,
    contact_id: ContactId,
    options: LetterOptions,
) -> Result<Quote, SendError> {
    let document = documents::find(conn, database_id, document_id)?.ok_or(SendError::NotFound)?;
    let contact = contacts::find(conn, database_id, contact_id)?.ok_or(SendError::NotFound)?;
    if !document.is_pdf() {
        return Err(LetterRefused::NotAPdf.into());
    }
    if let Some(part) = missing_part(&contact) {
        return Err(LetterRefused::IncompleteAddress(part).into());
    }
    let country = contact.country.clone().unwrap_or_default();
    let zone = postage::zone_of(conn, &country)?
        .ok_or_else(|| LetterRefused::CountryNotServed(country.clone()))?;
    let facts = documents::facts(conn, database_id, document_id)?.ok_or(SendError::NotReadYet)?;
    let pages = printable_pages(&facts)?;
    Ok(Quote {
        price: zone.price(pages, options),
        sheets: postage::sheets(pages, options),
        zone: zone.zone,
        zone_name: zone.name,
        contact,
        document,
        pages,
        options,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// Accepted by the post: the postage spent.
    Sent { letter_id: LetterId, price: Credits },
    /// The post refused it: nothing charged.
    Refused { letter_id: LetterId, reason: String },
    /// The post did not answer: the postage stays held, the worker hands it over.
    UnderWay { letter_id: LetterId },
    InsufficientCredits {
        account_id: AccountId,
        available: Credits,
        needed: Credits,
    },
}

/// **Send by Post** the quoted letter.
pub fn send(
    conn: &mut PgConnection,
    post: &Arc<dyn PostalService>,
    database_id: DatabaseId,
    user_id: UserId,
    quote: &Quote,
    form_key: &str,
) -> Result<Sent, SendError> {
    if let Some(letter) = by_form_key(conn, database_id, form_key)? {
        return Ok(sent_as(letter));
    }
    let actor = Actor::user(user_id);
    let description = format!("Letter to {}", quote.contact.name);
    let request = Request {
        database_id,
        account: None,
        service: &SnailmailWorker(post.clone()),
        credits: quote.price,
        hold_ttl: hold_ttl(),
        description: &description,
        actor: &actor,
    };
    let address = address_of(&quote.contact);
    let begun = metering::begin(conn, &request, |conn, job| {
        NewLetter {
            job_id: job.id,
            database_id,
            document_id: quote.document.id,
            contact_id: Some(quote.contact.id),
            sent_by: Some(user_id),
            form_key,
            address: address.clone(),
            pages: quote.pages,
            sheets: quote.sheets,
            options: quote.options,
            zone: &quote.zone,
            price: quote.price,
            source: LetterSource::App,
        }
        .insert(conn)
    });
    let (job, letter_id) = match begun {
        Ok(begun) => begun,
        Err(MeteringError::InsufficientCredits {
            account_id,
            available,
            needed,
        }) => {
            return Ok(Sent::InsufficientCredits {
                account_id,
                available,
                needed,
            });
        }
        // The same form posted twice at once: the other post sent it.
        Err(MeteringError::Database(e)) if crate::platform::db::is_unique_violation(&e) => {
            let letter = by_form_key(conn, database_id, form_key)?.ok_or(SendError::NotFound)?;
            return Ok(sent_as(letter));
        }
        Err(e) => return Err(e.into()),
    };
    metering::run(conn, &SnailmailWorker(post.clone()), job.id)?;
    let letter = find(conn, database_id, letter_id)?.ok_or(SendError::NotFound)?;
    Ok(sent_as(letter))
}

/// A letter an Odoo database sent through `/iap/snailmail/1/print`: its PDF read once (not
/// stored yet: it is stored with the letter, so a letter that cannot be paid leaves nothing).
pub struct OdooLetter<'a> {
    /// Makes a repeated call the same letter: Odoo's letter id and the PDF's digest.
    pub form_key: String,
    pub upload: &'a documents::CheckedUpload,
    pub pages: i32,
    pub address: &'a Address,
    pub options: LetterOptions,
}

/// What became of a letter an Odoo database sent.
#[derive(Debug, Clone, PartialEq)]
pub enum OdooSent {
    /// Accepted by the post (or, the post not answering yet, committed and handed over by the
    /// worker): the postage spent once it is accepted.
    Sent { letter_id: LetterId, price: Credits },
    /// The post refused it: nothing charged.
    Refused { letter_id: LetterId, reason: String },
    /// No postage zone serves the country: nothing held or written.
    NoPrice,
    /// Too few credits for its postage: nothing held or written.
    InsufficientCredits { needed: Credits },
}

/// Sends an Odoo database's letter from the account its token named, on the same steps (and
/// price, post and tracking) as **Send by Post**. The same letter sent again (same Odoo
/// letter id and PDF) answers what became of it the first time and is not charged again.
pub fn send_for_odoo(
    conn: &mut PgConnection,
    post: &Arc<dyn PostalService>,
    account: &crate::domain::ledger::IapAccount,
    letter: &OdooLetter<'_>,
) -> Result<OdooSent, SendError> {
    let database_id = account.database_id;
    let answer_of = |letter: Letter| {
        let price = letter.price;
        match sent_as(letter) {
            Sent::Refused { letter_id, reason } => OdooSent::Refused { letter_id, reason },
            Sent::Sent { letter_id, .. } | Sent::UnderWay { letter_id } => {
                OdooSent::Sent { letter_id, price }
            }
            Sent::InsufficientCredits { needed, .. } => OdooSent::InsufficientCredits { needed },
        }
    };
    if let Some(sent) = by_form_key(conn, database_id, &letter.form_key)? {
        return Ok(answer_of(sent));
    }
    let Some(zone) = postage::zone_of(conn, &letter.address.country)? else {
        return Ok(OdooSent::NoPrice);
    };
    let price = zone.price(letter.pages, letter.options);
    let actor = Actor::system("odoo-snailmail");
    let description = format!("Letter to {} (Odoo)", letter.address.recipient);
    let request = Request {
        database_id,
        account: Some(account.id),
        service: &SnailmailWorker(post.clone()),
        credits: price,
        hold_ttl: hold_ttl(),
        description: &description,
        actor: &actor,
    };
    let begun = metering::begin(conn, &request, |conn, job| {
        let document = documents::store(conn, database_id, None, letter.upload)?;
        NewLetter {
            job_id: job.id,
            database_id,
            document_id: document.id,
            contact_id: None,
            sent_by: None,
            form_key: &letter.form_key,
            address: letter.address.clone(),
            pages: letter.pages,
            sheets: postage::sheets(letter.pages, letter.options),
            options: letter.options,
            zone: &zone.zone,
            price,
            source: LetterSource::Odoo,
        }
        .insert(conn)
    });
    let (job, letter_id) = match begun {
        Ok(begun) => begun,
        Err(MeteringError::InsufficientCredits { needed, .. }) => {
            return Ok(OdooSent::InsufficientCredits { needed });
        }
        // The same letter sent twice at once: the other call sent it.
        Err(MeteringError::Database(e)) if crate::platform::db::is_unique_violation(&e) => {
            let sent =
                by_form_key(conn, database_id, &letter.form_key)?.ok_or(SendError::NotFound)?;
            return Ok(answer_of(sent));
        }
        Err(e) => return Err(e.into()),
    };
    metering::run(conn, &SnailmailWorker(post.clone()), job.id)?;
    let sent = find(conn, database_id, letter_id)?.ok_or(SendError::NotFound)?;
    Ok(answer_of(sent))
}

/// What a letter's status says of its sending.
fn sent_as(letter: Letter) -> Sent {
    let letter_id = letter.id;
    match letter.status {
        LetterStatus::Queued => Sent::UnderWay { letter_id },
        LetterStatus::Refused | LetterStatus::Failed => Sent::Refused {
            letter_id,
            reason: letter.error.unwrap_or_default(),
        },
        LetterStatus::Sent | LetterStatus::Delivered | LetterStatus::Undeliverable => Sent::Sent {
            letter_id,
            price: letter.price,
        },
    }
}

fn by_form_key(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    form_key: &str,
) -> QueryResult<Option<Letter>> {
    letters::table
        .filter(letters::database_id.eq(database_id))
        .filter(letters::form_key.eq(form_key))
        .select(Letter::as_select())
        .first(conn)
        .optional()
}

pub fn find(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    id: LetterId,
) -> QueryResult<Option<Letter>> {
    letters::table
        .filter(letters::database_id.eq(database_id))
        .filter(letters::id.eq(id))
        .select(Letter::as_select())
        .first(conn)
        .optional()
}

/// The database's latest `limit` letters, newest first (the operator's page).
pub fn latest(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    limit: i64,
) -> QueryResult<Vec<Letter>> {
    letters::table
        .filter(letters::database_id.eq(database_id))
        .order(letters::id.desc())
        .limit(limit)
        .select(Letter::as_select())
        .load(conn)
}

/// A page of the database's letters, newest first.
pub fn list(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    before: Option<LetterId>,
) -> QueryResult<Vec<Letter>> {
    let mut query = letters::table
        .filter(letters::database_id.eq(database_id))
        .order(letters::id.desc())
        .limit(PAGE_SIZE.fetch())
        .select(Letter::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(letters::id.lt(before));
    }
    query.load(conn)
}

/// Writes a line in the chatter of the letter's contact, if it still exists.
fn tell_contact(conn: &mut PgConnection, letter: &Letter, body: &str) -> QueryResult<()> {
    if let Some(contact_id) = letter.contact_id {
        contacts::add_event(conn, letter.database_id, contact_id, None, body)?;
    }
    Ok(())
}

/// The worker's Snailmail: the hand-off to the post and what a job used.
pub struct SnailmailWorker(pub Arc<dyn PostalService>);

impl PaidService for SnailmailWorker {
    fn slug(&self) -> &'static str {
        SERVICE
    }

    fn perform(&self, conn: &mut PgConnection, job: &Job) -> Result<(), PerformError> {
        let queued: Vec<Letter> = letters::table
            .filter(letters::job_id.eq(job.id))
            .filter(letters::status.eq(LetterStatus::Queued))
            .select(Letter::as_select())
            .load(conn)?;
        for letter in queued {
            let pdf = documents::content(conn, letter.database_id, letter.document_id)?
                .ok_or_else(|| PerformError("the letter's document is gone".into()))?;
            let posting = Posting {
                recipient: &letter.recipient,
                street: &letter.street,
                postal_code: &letter.postal_code,
                city: &letter.city,
                country: &letter.country,
                pdf: &pdf,
                colour: letter.colour,
                duplex: letter.duplex,
                cover: letter.cover,
            };
            // Handed over with no transaction open; the answer saved in a short one.
            let handoff = self
                .0
                .post(&posting, &format!("letter-{}", letter.id))
                .map_err(PerformError)?;
            conn.transaction(|conn| {
                let (status, reference, error) = match &handoff {
                    PostHandoff::Accepted { reference } => {
                        (LetterStatus::Sent, Some(reference.as_str()), None)
                    }
                    PostHandoff::Refused { reason } => {
                        (LetterStatus::Refused, None, Some(reason.as_str()))
                    }
                };
                let changed = diesel::update(
                    letters::table
                        .find(letter.id)
                        .filter(letters::status.eq(LetterStatus::Queued)),
                )
                .set((
                    letters::status.eq(status),
                    letters::provider_reference.eq(reference),
                    letters::error.eq(error),
                    letters::sent_at.eq(reference.map(|_| Utc::now())),
                ))
                .execute(conn)?;
                if changed == 1 {
                    let body = match &handoff {
                        PostHandoff::Accepted { .. } => format!(
                            "Letter sent by post ({} {}), {}",
                            letter.pages,
                            if letter.pages == 1 { "page" } else { "pages" },
                            letter.price.with_unit()
                        ),
                        PostHandoff::Refused { reason } => {
                            format!("Letter refused by the post: {reason}. Nothing was charged.")
                        }
                    };
                    tell_contact(conn, &letter, &body)?;
                }
                QueryResult::Ok(())
            })?;
        }
        Ok(())
    }

    fn close_unfinished(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<()> {
        diesel::update(
            letters::table
                .filter(letters::job_id.eq(job.id))
                .filter(letters::status.eq(LetterStatus::Queued)),
        )
        .set((
            letters::status.eq(LetterStatus::Failed),
            letters::error.eq("the postal service did not answer"),
        ))
        .execute(conn)
        .map(drop)
    }

    fn used(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<Credits> {
        let posted: Vec<LetterStatus> = LetterStatus::ALL
            .iter()
            .copied()
            .filter(|s| s.was_posted())
            .collect();
        let prices: Vec<Credits> = letters::table
            .filter(letters::job_id.eq(job.id))
            .filter(letters::status.eq_any(posted))
            .select(letters::price)
            .load(conn)?;
        Ok(prices.into_iter().sum())
    }
}

/// Asks the post where the letters in transit are (those of `database_id`, or all) and records
/// what changed: delivered or undeliverable, in the contact's chatter too. The provider is asked
/// with no transaction open. Returns how many letters changed.
pub fn track(
    conn: &mut PgConnection,
    post: &dyn PostalService,
    database_id: Option<DatabaseId>,
) -> QueryResult<usize> {
    let mut query = letters::table
        .filter(letters::status.eq(LetterStatus::Sent))
        .order(letters::id)
        .limit(500)
        .select(Letter::as_select())
        .into_boxed();
    if let Some(database_id) = database_id {
        query = query.filter(letters::database_id.eq(database_id));
    }
    let in_transit: Vec<Letter> = query.load(conn)?;
    let mut changed = 0;
    for letter in in_transit {
        let Some(reference) = letter.provider_reference.as_deref() else {
            continue;
        };
        let (status, error, body) = match post.track(reference) {
            Ok(Tracking::InTransit) => continue,
            Ok(Tracking::Delivered) => (
                LetterStatus::Delivered,
                None,
                "Letter delivered".to_string(),
            ),
            Ok(Tracking::Undeliverable { reason }) => (
                LetterStatus::Undeliverable,
                Some(reason.clone()),
                format!("Letter undeliverable: {reason}"),
            ),
            Err(e) => {
                tracing::warn!(
                    letter = %letter.id,
                    "the post did not say where a letter is: {e}"
                );
                continue;
            }
        };
        changed += conn.transaction(|conn| {
            let n = diesel::update(
                letters::table
                    .find(letter.id)
                    .filter(letters::status.eq(LetterStatus::Sent)),
            )
            .set((
                letters::status.eq(status),
                letters::error.eq(error),
                letters::finished_at.eq(Utc::now()),
            ))
            .execute(conn)?;
            if n == 1 {
                tell_contact(conn, &letter, &body)?;
            }
            QueryResult::Ok(n)
        })?;
    }
    Ok(changed)
}
