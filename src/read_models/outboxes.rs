//! What waits to be sent or run, per outbox and kind, for the metrics: emails by kind,
//! paid-service jobs by service, SMS delivery reports for Odoo's webhooks. One query; it writes
//! nothing.

use diesel::prelude::*;

use crate::platform::metrics::Waiting;

pub fn waiting(conn: &mut PgConnection) -> QueryResult<Vec<Waiting>> {
    diesel::sql_query(
        "SELECT 'email' AS outbox, kind, count(*) AS depth,
                extract(epoch FROM now() - min(created_at))::float8 AS oldest_seconds
         FROM email_outbox WHERE status = 'pending' GROUP BY kind
         UNION ALL
         SELECT 'service_jobs', s.slug, count(*),
                extract(epoch FROM now() - min(j.created_at))::float8
         FROM service_jobs j JOIN services s ON s.id = j.service_id
         WHERE j.status = 'pending' GROUP BY s.slug
         UNION ALL
         SELECT 'sms_webhooks', 'delivery_report', count(*),
                coalesce(extract(epoch FROM now() - min(updated_at)), 0)::float8
         FROM sms_messages
         WHERE webhook_url IS NOT NULL AND webhook_reported_at IS NULL
           AND odoo_uuid IS NOT NULL AND status IN ('delivered', 'error')
           AND webhook_attempts < $1
         HAVING count(*) > 0",
    )
    .bind::<diesel::sql_types::Integer, _>(crate::services::sms::webhooks::MAX_ATTEMPTS)
    .load(conn)
}
