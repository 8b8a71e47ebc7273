//! The SMS records (`sms_messages`, owned here): queued with their job before the carrier is
//! called, then sent (with the carrier's reference) or refused, delivered or not; a contact's
//! chatter and the database's SMS history read them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::gateway::{DeliveryReport, SmsGateway};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{ContactId, DatabaseId, HoldId, JobId, SmsMessageId, UserId};
use crate::platform::schema::sms_messages;
use crate::sql_text_enum;

sql_text_enum! {
    pub enum SmsStatus {
        /// Recorded and paid for by a hold; not handed to the carrier yet.
        Queued => "queued",
        /// Accepted by the carrier (and charged).
        Sent => "sent",
        Delivered => "delivered",
        /// Refused before or by the carrier (not charged), or not delivered (charged).
        Error => "error",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sms_messages, check_for_backend(diesel::pg::Pg))]
pub struct SmsMessage {
    pub id: SmsMessageId,
    pub contact_id: Option<ContactId>,
    pub sent_by: Option<UserId>,
    pub recipient: String,
    pub body: String,
    pub encoding: String,
    pub parts: i32,
    pub cost: Credits,
    pub status: SmsStatus,
    pub error: Option<String>,
    pub carrier_reference: Option<String>,
    pub job_id: Option<JobId>,
    pub created_at: DateTime<Utc>,
    /// The sending Odoo database's own id of the message (its SMS API), if it came that way.
    pub odoo_uuid: Option<String>,
}

impl SmsMessage {
    /// The key the carrier de-duplicates hand-offs by: a retry is the same message.
    pub fn idempotency_key(&self) -> String {
        format!("sms-{}", self.id)
    }

    /// Whether the carrier took it (so it is charged).
    pub fn was_accepted(&self) -> bool {
        self.carrier_reference.is_some()
    }
}

/// A message as recorded before sending (or refused before the carrier).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = sms_messages)]
pub struct SmsInsertForm<'a> {
    pub database_id: DatabaseId,
    pub contact_id: Option<ContactId>,
    pub sent_by: Option<UserId>,
    pub recipient: &'a str,
    pub body: &'a str,
    pub encoding: &'a str,
    pub parts: i32,
    pub cost: Credits,
    pub status: SmsStatus,
    pub error: Option<&'a str>,
    pub hold_id: Option<HoldId>,
    pub job_id: Option<JobId>,
}

pub fn insert(conn: &mut PgConnection, rows: &[SmsInsertForm<'_>]) -> QueryResult<Vec<SmsMessage>> {
    diesel::insert_into(sms_messages::table)
        .values(rows)
        .returning(SmsMessage::as_returning())
        .get_results(conn)
}

/// A message an Odoo database sent through its SMS API, as recorded before sending.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = sms_messages)]
pub struct OdooSmsInsertForm<'a> {
    pub database_id: DatabaseId,
    pub recipient: &'a str,
    pub body: &'a str,
    pub encoding: &'a str,
    pub parts: i32,
    pub cost: Credits,
    pub status: SmsStatus,
    pub hold_id: HoldId,
    pub job_id: JobId,
    pub odoo_uuid: &'a str,
    pub webhook_url: Option<&'a str>,
}

/// Writes the messages whose uuid the database has not used yet; returns those written (a uuid
/// written meanwhile by a concurrent call is skipped, not sent twice).
pub fn insert_odoo(
    conn: &mut PgConnection,
    rows: &[OdooSmsInsertForm<'_>],
) -> QueryResult<Vec<SmsMessage>> {
    diesel::insert_into(sms_messages::table)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(SmsMessage::as_returning())
        .get_results(conn)
}

/// Which of `uuids` the database already sent: one lookup in the unique index of uuids per
/// uuid. (`odoo_uuid = ANY(…)` let the planner read every message of the database and compare
/// each with all 500 uuids of a call: 6 million comparisons at 12,500 messages.)
pub fn odoo_uuids_known(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    uuids: &[&str],
) -> QueryResult<Vec<(String, SmsStatus)>> {
    #[derive(QueryableByName)]
    struct Known {
        #[diesel(sql_type = diesel::sql_types::Text)]
        odoo_uuid: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: SmsStatus,
    }
    let known: Vec<Known> = diesel::sql_query(
        "SELECT m.odoo_uuid, m.status
         FROM unnest($2::text[]) AS u(uuid)
         CROSS JOIN LATERAL (
             SELECT odoo_uuid, status FROM sms_messages
             WHERE database_id = $1 AND odoo_uuid = u.uuid
         ) AS m",
    )
    .bind::<diesel::sql_types::BigInt, _>(database_id.0)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(uuids)
    .load(conn)?;
    Ok(known.into_iter().map(|k| (k.odoo_uuid, k.status)).collect())
}

/// A job's messages, in the order they were written.
pub fn of_job(conn: &mut PgConnection, job_id: JobId) -> QueryResult<Vec<SmsMessage>> {
    sms_messages::table
        .filter(sms_messages::job_id.eq(job_id))
        .order(sms_messages::id)
        .select(SmsMessage::as_select())
        .load(conn)
}

/// What the carrier answered for each of a hand-off's messages, written in two statements
/// (the accepted with their references; the refused with their reasons, at no cost).
pub fn mark_handoffs(
    conn: &mut PgConnection,
    handoffs: &[(SmsMessageId, super::gateway::Handoff)],
) -> QueryResult<()> {
    use super::gateway::Handoff;
    use diesel::sql_types::{Array, BigInt, Text};
    let (mut sent, mut references, mut refused, mut reasons) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, handoff) in handoffs {
        match handoff {
            Handoff::Accepted { reference } => {
                sent.push(id.0);
                references.push(reference.as_str());
            }
            Handoff::Refused { reason } => {
                refused.push(id.0);
                reasons.push(reason.as_str());
            }
        }
    }
    if !sent.is_empty() {
        diesel::sql_query(
            "UPDATE sms_messages m SET status = 'sent', carrier_reference = h.reference,
                                        updated_at = now()
             FROM unnest($1::bigint[], $2::text[]) AS h(id, reference)
             WHERE m.id = h.id AND m.status = 'queued'",
        )
        .bind::<Array<BigInt>, _>(&sent)
        .bind::<Array<Text>, _>(&references)
        .execute(conn)?;
    }
    if !refused.is_empty() {
        diesel::sql_query(
            "UPDATE sms_messages m SET status = 'error', error = h.reason, cost = 0,
                                        updated_at = now()
             FROM unnest($1::bigint[], $2::text[]) AS h(id, reason)
             WHERE m.id = h.id AND m.status = 'queued'",
        )
        .bind::<Array<BigInt>, _>(&refused)
        .bind::<Array<Text>, _>(&reasons)
        .execute(conn)?;
    }
    Ok(())
}

/// Closes a job's messages still queued as not sent (not charged).
pub fn close_queued(conn: &mut PgConnection, job_id: JobId) -> QueryResult<()> {
    diesel::update(
        sms_messages::table
            .filter(sms_messages::job_id.eq(job_id))
            .filter(sms_messages::status.eq(SmsStatus::Queued)),
    )
    .set((
        sms_messages::status.eq(SmsStatus::Error),
        sms_messages::error.eq("The carrier could not be reached; not sent, not charged."),
        sms_messages::cost.eq(Credits::ZERO),
        sms_messages::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .map(drop)
}

/// What a job's messages cost: those the carrier accepted.
pub fn cost_of_job(conn: &mut PgConnection, job_id: JobId) -> QueryResult<Credits> {
    sms_messages::table
        .filter(sms_messages::job_id.eq(job_id))
        .filter(sms_messages::carrier_reference.is_not_null())
        .select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "COALESCE(sum(cost), 0)::bigint",
        ))
        .first(conn)
}

/// The SMS sent to a contact, newest first (its chatter).
pub fn chatter(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    contact_id: ContactId,
) -> QueryResult<Vec<SmsMessage>> {
    sms_messages::table
        .filter(sms_messages::database_id.eq(database_id))
        .filter(sms_messages::contact_id.eq(contact_id))
        .order(sms_messages::id.desc())
        .limit(100)
        .select(SmsMessage::as_select())
        .load(conn)
}

/// The database's SMS, newest first (the SMS history).
pub fn history(conn: &mut PgConnection, database_id: DatabaseId) -> QueryResult<Vec<SmsMessage>> {
    sms_messages::table
        .filter(sms_messages::database_id.eq(database_id))
        .order(sms_messages::id.desc())
        .limit(200)
        .select(SmsMessage::as_select())
        .load(conn)
}

/// Applies the carrier's delivery reports to messages still marked sent; returns how many.
pub fn apply_delivery_reports(
    conn: &mut PgConnection,
    gateway: &dyn SmsGateway,
) -> QueryResult<usize> {
    let waiting: Vec<(i64, String, Option<String>)> = sms_messages::table
        .filter(sms_messages::status.eq(SmsStatus::Sent))
        .order(sms_messages::id)
        .limit(500)
        .select((
            sms_messages::id,
            sms_messages::recipient,
            sms_messages::carrier_reference,
        ))
        .load(conn)?;
    let (mut ids, mut statuses, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for (id, recipient, reference) in waiting {
        let report = gateway.report(&recipient, reference.as_deref().unwrap_or_default());
        let (status, error) = match report {
            None => continue,
            Some(DeliveryReport::Delivered) => ("delivered", None),
            Some(DeliveryReport::Failed { reason }) => ("error", Some(reason)),
        };
        ids.push(id);
        statuses.push(status);
        errors.push(error);
    }
    if ids.is_empty() {
        return Ok(0);
    }
    // One statement for the whole batch; a message already moved on is left as it is.
    use diesel::sql_types::{Array, BigInt, Nullable, Text};
    let updated = diesel::sql_query(
        "UPDATE sms_messages m SET status = r.status, error = r.error, updated_at = now() \
         FROM unnest($1::bigint[], $2::text[], $3::text[]) AS r(id, status, error) \
         WHERE m.id = r.id AND m.status = 'sent'",
    )
    .bind::<Array<BigInt>, _>(ids)
    .bind::<Array<Text>, _>(statuses)
    .bind::<Array<Nullable<Text>>, _>(errors)
    .execute(conn)?;
    Ok(updated)
}
