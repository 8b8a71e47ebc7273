//! Clients that charge with Idempotency-Keys and retry a 503 or a lost answer with the same
//! key, as a careful client does, counting what they saw: the load of the failover test and of
//! the benchmark's `--patroni` mode (which includes this file).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Odoo's own timeout for an IAP call: no answer may take longer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Load {
    /// Each charge answered 201: its key, its ledger row, when it was first sent and when it
    /// was answered.
    pub acked: Vec<(String, i64, Instant, Instant)>,
    /// 503s, and how many of them lacked `Retry-After`.
    pub unavailable: usize,
    pub without_retry_after: usize,
    /// Requests that got no answer (connection refused or reset, or the client's timeout).
    pub unanswered: usize,
    pub timeouts: usize,
    /// When the first 503 or unanswered request came.
    pub first_failure: Option<Instant>,
    /// Anything else: (status, body).
    pub wrong: Vec<(u16, String)>,
}

impl Load {
    pub fn merge(&mut self, other: Load) {
        self.acked.extend(other.acked);
        self.unavailable += other.unavailable;
        self.without_retry_after += other.without_retry_after;
        self.unanswered += other.unanswered;
        self.timeouts += other.timeouts;
        self.first_failure = match (self.first_failure, other.first_failure) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.wrong.extend(other.wrong);
    }

    /// From `moment` (the kill) to the first 201 of a charge first sent once the primary had
    /// stopped answering (after the first 503 or unanswered request): a backend of a killed
    /// postmaster may still commit for a moment, and those answers do not tell when service
    /// came back.
    pub fn first_success_after(&self, moment: Instant) -> Option<Duration> {
        let down = self.first_failure?.max(moment);
        self.acked
            .iter()
            .filter(|(_, _, sent, _)| *sent > down)
            .map(|(_, _, _, at)| *at - moment)
            .min()
    }

    pub fn longest_gap_around(&self, moment: Instant) -> Duration {
        let mut times: Vec<Instant> = self.acked.iter().map(|(_, _, _, at)| *at).collect();
        times.sort();
        times
            .windows(2)
            .filter(|w| w[1] > moment)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default()
    }
}

/// Charges `credits` with `key` until an answer other than 503 or no answer comes, retrying
/// with the same key on the other instance: what a careful client does.
pub async fn charge_until_answered(
    client: &awc::Client,
    bases: &[String],
    token: &str,
    key: &str,
    credits: &str,
    load: &mut Load,
) -> Option<(u16, Value)> {
    for attempt in 0..400 {
        let base = &bases[attempt % bases.len()];
        let sent = client
            .post(format!("{base}/api/v1/charges"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Idempotency-Key", key))
            .send_json(&serde_json::json!({ "credits": credits, "description": key }))
            .await;
        match sent {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                if status == 503 {
                    load.unavailable += 1;
                    load.first_failure.get_or_insert_with(Instant::now);
                    load.without_retry_after += usize::from(!retry_after);
                } else {
                    return Some((status, body));
                }
            }
            Err(awc::error::SendRequestError::Timeout) => {
                load.timeouts += 1;
                load.first_failure.get_or_insert_with(Instant::now);
            }
            Err(_) => {
                load.unanswered += 1;
                load.first_failure.get_or_insert_with(Instant::now);
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// `clients` clients charging 1 credit each with a fresh key, until `stop`, client `n` on
/// `tokens[n % tokens.len()]` and first on instance `n % 2`.
pub async fn charge_under_load(
    bases: Vec<String>,
    tokens: Vec<String>,
    clients: usize,
    label: &'static str,
    stop: Arc<AtomicBool>,
) -> Load {
    let tasks: Vec<_> = (0..clients)
        .map(|n| {
            let (bases, token, stop) = (
                bases.clone(),
                tokens[n % tokens.len()].clone(),
                stop.clone(),
            );
            actix_web::rt::spawn(async move {
                let client = awc::Client::builder().timeout(CLIENT_TIMEOUT).finish();
                let mut load = Load::default();
                let mut bases = bases;
                bases.rotate_left(n % 2);
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("{label}-{n}-{i}");
                    i += 1;
                    let sent = Instant::now();
                    match charge_until_answered(&client, &bases, &token, &key, "1", &mut load).await
                    {
                        Some((201, body)) => {
                            let id = body["entry"]["id"].as_i64().unwrap();
                            load.acked.push((key, id, sent, Instant::now()));
                        }
                        Some((status, body)) => load.wrong.push((status, body.to_string())),
                        None => load.wrong.push((0, format!("{key}: never answered"))),
                    }
                }
                load
            })
        })
        .collect();
    let mut load = Load::default();
    for task in tasks {
        load.merge(task.await.unwrap());
    }
    load
}
