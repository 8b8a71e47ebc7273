//! Past SMS written as they happened: sent on a past day, accepted by the carrier and
//! delivered, each at its price then. The first start's demo uses it for the SMS history and
//! the contacts' chatter; what they cost is written into the account's ledger by
//! `ledger::history`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::encoding;
use super::messages::SmsStatus;
use crate::kernel::credits::Credits;
use crate::kernel::ids::{ContactId, DatabaseId, UserId};
use crate::platform::schema::sms_messages;

/// One past SMS to one recipient.
pub struct PastSms {
    pub at: DateTime<Utc>,
    pub contact_id: Option<ContactId>,
    pub sent_by: Option<UserId>,
    pub recipient: String,
    pub body: String,
    pub cost: Credits,
}

/// Writes the database's past SMS, delivered, in one statement; returns how many.
pub fn delivered_in_past(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    past: &[PastSms],
) -> QueryResult<usize> {
    let rows: Vec<_> = past
        .iter()
        .enumerate()
        .map(|(n, sms)| {
            let count = encoding::count(&sms.body);
            (
                sms_messages::database_id.eq(database_id),
                sms_messages::contact_id.eq(sms.contact_id),
                sms_messages::sent_by.eq(sms.sent_by),
                sms_messages::recipient.eq(&sms.recipient),
                sms_messages::body.eq(&sms.body),
                sms_messages::encoding.eq(count.encoding.name()),
                sms_messages::parts.eq(i32::try_from(count.parts).unwrap_or(1)),
                sms_messages::cost.eq(sms.cost),
                sms_messages::status.eq(SmsStatus::Delivered),
                sms_messages::carrier_reference.eq(format!("past-{}-{n}", sms.at.timestamp())),
                sms_messages::created_at.eq(sms.at),
                sms_messages::updated_at.eq(sms.at),
            )
        })
        .collect();
    diesel::insert_into(sms_messages::table)
        .values(&rows)
        .execute(conn)
}
