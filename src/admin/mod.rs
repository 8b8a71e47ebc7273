//! The IAP operator's tools (role `platform`): dashboard figures and charts, refunds, manual
//! adjustments, catalog management, and the audit log that records every one of their actions.

pub mod audit;
pub mod catalog;
pub mod charts;
pub mod databases;
pub mod orders;
pub mod refunds;
pub mod stats;

use diesel::prelude::*;

/// Queues a failed email again (its attempts start over), recorded in the audit log; false if
/// `email_id` is not a failed message.
pub fn retry_email(
    conn: &mut PgConnection,
    operator: &audit::Operator,
    email_id: i64,
) -> QueryResult<bool> {
    conn.transaction(|conn| {
        if !crate::mail::outbox::retry_failed(conn, email_id)? {
            return Ok(false);
        }
        audit::record(
            conn,
            operator,
            audit::Action {
                action: "email.retry",
                subject: format!("email:{email_id}"),
                database_id: None,
                reason: None,
                before: Some(serde_json::json!({"status": "failed"})),
                after: Some(serde_json::json!({"status": "pending"})),
            },
        )?;
        Ok(true)
    })
}
