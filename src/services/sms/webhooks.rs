//! Delivery reports owed to the webhooks of the Odoo databases that sent SMS through their SMS
//! API: once a message is delivered or not, its report is POSTed to the `webhook_url` it came
//! with, as Odoo's SMS service does (`{"message_statuses": [{"sms_status", "uuids"}]}` in a
//! JSON-RPC call). An outbox on the messages themselves: reports are claimed for a lease,
//! POSTed with no transaction open, then marked; a webhook that is down is tried again with a
//! growing delay for about a day, and never holds up sending.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::platform::db::DbPool;
use crate::platform::outbound::OutboundPolicy;
use crate::platform::schema::sms_messages;

/// How long a claimed report is left to its POST before another worker may take it.
const LEASE_SECONDS: i64 = 60;
/// Attempts before a report is given up (the delays add up to about a day).
pub const MAX_ATTEMPTS: i32 = 30;
const FIRST_DELAY_SECONDS: i64 = 30;
const MAX_DELAY_SECONDS: i64 = 3600;
/// How long a webhook may take to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// One POST to make: the messages it reports, and its body.
#[derive(Debug, Clone)]
pub struct Report {
    pub url: String,
    pub ids: Vec<i64>,
    pub body: Value,
}

/// A webhook's reports by Odoo's status name: the messages' ids and uuids.
type ByStatus = BTreeMap<&'static str, (Vec<i64>, Vec<String>)>;

/// The delay before attempt `attempts + 1`.
fn delay(attempts: i32) -> chrono::Duration {
    let doublings = u32::try_from(attempts.clamp(0, 10)).unwrap_or(0);
    chrono::Duration::seconds((FIRST_DELAY_SECONDS << doublings).min(MAX_DELAY_SECONDS))
}

/// Claims up to `limit` reports due at `now` (delivered or failed messages with a webhook, not
/// reported yet), grouped into one POST per webhook.
pub fn claim_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<Report>> {
    #[derive(QueryableByName)]
    struct Due {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        webhook_url: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        odoo_uuid: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
    }
    let due: Vec<Due> = diesel::sql_query(
        "UPDATE sms_messages m SET webhook_next_at = $2 \
         WHERE m.id IN (SELECT id FROM sms_messages \
                        WHERE webhook_url IS NOT NULL AND webhook_reported_at IS NULL \
                          AND odoo_uuid IS NOT NULL AND status IN ('delivered', 'error') \
                          AND webhook_attempts < $3 \
                          AND (webhook_next_at IS NULL OR webhook_next_at <= $1) \
                        ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
         RETURNING m.id, m.webhook_url, m.odoo_uuid, m.status",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .bind::<diesel::sql_types::Timestamptz, _>(now + chrono::Duration::seconds(LEASE_SECONDS))
    .bind::<diesel::sql_types::Integer, _>(MAX_ATTEMPTS)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)?;
    let mut by_url: BTreeMap<String, ByStatus> = BTreeMap::new();
    for d in due {
        let status = if d.status == "delivered" {
            "delivered"
        } else {
            "not_delivered"
        };
        let entry = by_url
            .entry(d.webhook_url)
            .or_default()
            .entry(status)
            .or_default();
        entry.0.push(d.id);
        entry.1.push(d.odoo_uuid);
    }
    Ok(by_url
        .into_iter()
        .map(|(url, statuses)| {
            let ids = statuses.values().flat_map(|(ids, _)| ids.clone()).collect();
            let message_statuses: Vec<Value> = statuses
                .into_iter()
                .map(|(status, (_, uuids))| json!({"sms_status": status, "uuids": uuids}))
                .collect();
            Report {
                url,
                ids,
                body: json!({
                    "jsonrpc": "2.0",
                    "method": "call",
                    "params": {"message_statuses": message_statuses},
                    "id": null,
                }),
            }
        })
        .collect())
}

/// The webhook took the report.
pub fn mark_reported(conn: &mut PgConnection, ids: &[i64]) -> QueryResult<usize> {
    diesel::update(sms_messages::table.filter(sms_messages::id.eq_any(ids)))
        .set((
            sms_messages::webhook_reported_at.eq(diesel::dsl::now),
            sms_messages::webhook_error.eq(None::<String>),
        ))
        .execute(conn)
}

/// The webhook did not take it: tried again later, or given up after `MAX_ATTEMPTS`.
pub fn mark_failed(
    conn: &mut PgConnection,
    ids: &[i64],
    error: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let rows: Vec<(i64, i32)> = sms_messages::table
        .filter(sms_messages::id.eq_any(ids))
        .select((sms_messages::id, sms_messages::webhook_attempts))
        .load(conn)?;
    let error: String = error.chars().take(500).collect();
    for (id, attempts) in rows {
        diesel::update(sms_messages::table.find(id))
            .set((
                sms_messages::webhook_attempts.eq(attempts + 1),
                sms_messages::webhook_next_at.eq(now + delay(attempts)),
                sms_messages::webhook_error.eq(&error),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// What one run of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WebhookRun {
    pub reported: usize,
    pub failed: usize,
}

/// Webhooks POSTed to at once: a few slow ones never hold up the others' reports.
pub const PARALLEL: usize = 8;

/// POSTs the reports due at `now`, up to `PARALLEL` webhooks at a time, each within `TIMEOUT`,
/// and records the outcomes. `client` is `outbound`'s (`OutboundPolicy::client`): it connects
/// only to permitted addresses and follows no redirect; an address written in the URL is
/// checked here. Must run in the actix runtime; database work goes to the blocking pool.
pub async fn deliver_due(
    pool: &DbPool,
    outbound: &OutboundPolicy,
    client: &awc::Client,
    now: DateTime<Utc>,
) -> anyhow::Result<WebhookRun> {
    use futures_util::StreamExt;
    let claim_pool = pool.clone();
    let reports = actix_web::web::block(move || {
        let mut conn = claim_pool.get()?;
        anyhow::Ok(claim_due(&mut conn, now, 500)?)
    })
    .await??;
    let outcomes: Vec<(Report, Result<(), String>)> = futures_util::stream::iter(reports)
        .map(|report| async move {
            let outcome = post(outbound, client, &report).await;
            (report, outcome)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.get()?;
        let mut run = WebhookRun::default();
        for (report, outcome) in outcomes {
            match outcome {
                Ok(()) => {
                    mark_reported(&mut conn, &report.ids)?;
                    run.reported += report.ids.len();
                }
                Err(error) => {
                    tracing::warn!(url = %report.url, "SMS delivery report not taken: {error}");
                    mark_failed(&mut conn, &report.ids, &error, Utc::now())?;
                    run.failed += report.ids.len();
                }
            }
        }
        anyhow::Ok(run)
    })
    .await?
}

/// One report's POST: taken when the webhook answers 2xx (a redirect is not followed).
async fn post(
    outbound: &OutboundPolicy,
    client: &awc::Client,
    report: &Report,
) -> Result<(), String> {
    let url = url::Url::parse(&report.url).map_err(|e| format!("not a URL: {e}"))?;
    outbound
        .check_url(&url)
        .map_err(|e| format!("refused: {e}"))?;
    match client
        .post(&report.url)
        .timeout(TIMEOUT)
        .send_json(&report.body)
        .await
    {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("the webhook answered {}", response.status())),
        Err(e) => Err(format!("the webhook could not be reached: {e}")),
    }
}
