//! `cargo bench --bench limits -- --odoo`: the figures of Odoo's traffic at Odoo's scale
//! (issue 32), each against its reference measured in the same run:
//! 1. `/iap/1/authorize` then `/iap/1/capture`, 32 clients over 20 accounts, against pgbench
//!    running the same two transactions on plain tables;
//! 2. `/iap/1/balance`, 32 clients over 20,000 accounts at random, against pgbench running the
//!    same indexed SELECT by token;
//! 3. `/api/sms/3/send` with 500 numbers (five countries, 5% invalid), against one transaction
//!    that updates one account and inserts 500 message rows (medians);
//! 4. the tail: charges at half of their measured peak rate, p99/p50, against pgbench's
//!    minimal charge at half of its own peak; p99.9 at the peak;
//! 5. tenant scale: two apps side by side, one with 1,000 customer databases, one with 100,000
//!    (300,000 accounts, and 10,000,000 ledger rows unless `--quick`), and the medians of
//!    interleaved requests of View My Services, Account Information, the operator's search by
//!    name and by dbuuid, the operator's dashboard and `/iap/1/balance`.

use serde_json::{Value, json};

use super::*;

const PAIR_ACCOUNTS: usize = 20;
const BALANCE_ACCOUNTS: usize = 20_000;
const SMS_NUMBERS: usize = 500;
const SMS_SAMPLES: usize = 25;
const SMALL_TENANTS: i64 = 1_000;
const BIG_TENANTS: i64 = 100_000;
const SCALE_SAMPLES: usize = 41;
/// The services each tenant has an account of.
const TENANT_SERVICES: [&str; 3] = ["sms", "partner-autocomplete", "snailmail"];

/// One request (or pair) a client makes in a loop.
#[derive(Clone)]
enum Work {
    Charge { tokens: Vec<String> },
    AuthorizeCapture { tokens: Vec<String>, key: String },
    Balance { accounts: Vec<(String, String)> },
}

/// Latencies (ms, sorted) and the rate of a run.
struct Run {
    rate: f64,
    ms: Vec<f64>,
    errors: u64,
}

impl Run {
    fn quantile(&self, q: f64) -> f64 {
        quantile(&self.ms, q)
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    quantile(&values, 0.5)
}

pub fn run(duration: Duration, quick: bool) {
    let id = std::process::id();
    let small_data = std::env::temp_dir().join(format!("iap-bench-small-{id}"));
    let big_data = std::env::temp_dir().join(format!("iap-bench-big-{id}"));
    for dir in [&small_data, &big_data] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let (small_port, big_port) = (free_port(), free_port());
    let (small_base, big_base) = (
        format!("http://127.0.0.1:{small_port}"),
        format!("http://127.0.0.1:{big_port}"),
    );
    let small_server = start_server(&small_data, small_port).0;
    let big_server = start_server(&big_data, big_port).0;
    let small_pg = EmbeddedPostgres::start(&LaunchOptions::new(&small_data, None)).unwrap();
    let big_pg = EmbeddedPostgres::start(&LaunchOptions::new(&big_data, None)).unwrap();
    let mut small = PgConnection::establish(&small_pg.database_url(APP_DATABASE)).unwrap();
    let mut big = PgConnection::establish(&big_pg.database_url(APP_DATABASE)).unwrap();

    // The tenants, set-based.
    let started = Instant::now();
    add_tenants(&mut small, SMALL_TENANTS);
    println!(
        "{SMALL_TENANTS} databases, {} accounts: {:.1} s",
        SMALL_TENANTS * 3,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    add_tenants(&mut big, BIG_TENANTS);
    println!(
        "{BIG_TENANTS} databases, {} accounts: {:.1} s",
        BIG_TENANTS * 3,
        started.elapsed().as_secs_f64()
    );
    let probe_small = Probe::new(&mut small, &small_base, 1_000);
    let probe_big = Probe::new(&mut big, &big_base, if quick { 1_000 } else { 10_000_000 });
    for conn in [&mut small, &mut big] {
        diesel::sql_query("VACUUM ANALYZE").execute(conn).unwrap();
    }

    // 1 to 4 on the big one.
    let requests = Arc::new(AtomicU64::new(0));
    let pgbench = find_binaries(None).unwrap().join("pgbench");
    let floor = odoo_floor_database(&big_pg, &mut big);
    let bench = |script: &str, min: i64, max: i64| {
        run_pgbench(
            &pgbench, &big_pg, &big_data, &floor, script, min, max, duration,
        )
    };

    phase("authorize+capture");
    let key = provider_key(&mut big, "sms");
    let (pair_tokens, _) = funded_accounts(&mut big, "Pairs", PAIR_ACCOUNTS);
    let pairs = Work::AuthorizeCapture {
        tokens: pair_tokens,
        key,
    };
    load(&big_base, &pairs, WARM_UP, None, &requests);
    // What the warm-up wrote is in the planner's statistics, as it would be on a server that has
    // run a while (autovacuum's analyze comes a minute later at the earliest).
    analyze(&mut big);
    let app_pairs = load(&big_base, &pairs, duration, None, &requests);
    let floor_pairs = bench(PAIR_FLOOR_SQL, 1, PAIR_ACCOUNTS as i64);

    phase("balance");
    let balance = Work::Balance {
        accounts: balance_accounts(&mut big),
    };
    load(&big_base, &balance, WARM_UP, None, &requests);
    analyze(&mut big);
    let app_balance = load(&big_base, &balance, duration, None, &requests);
    let floor_balance = bench(BALANCE_FLOOR_SQL, 1, BALANCE_ACCOUNTS as i64);

    phase("sms");
    let (sms_app, sms_floor, sms_answered) = sms_call(&mut big, &big_base, &floor, &big_pg);

    phase("tail");
    let (charge_tokens, _) = funded_accounts(&mut big, "Tail", SPREAD_ACCOUNTS);
    let charges = Work::Charge {
        tokens: charge_tokens,
    };
    load(&big_base, &charges, WARM_UP, None, &requests);
    analyze(&mut big);
    let peak = load(&big_base, &charges, duration, None, &requests);
    let half = load(
        &big_base,
        &charges,
        duration,
        Some(peak.rate / 2.0),
        &requests,
    );
    let floor_peak = bench(FLOOR_SQL, 1, SPREAD_ACCOUNTS as i64);
    let floor_half = pgbench_latencies(
        &pgbench,
        &big_pg,
        &big_data,
        &floor,
        floor_peak / 2.0,
        duration,
    );

    phase("tenant scale");
    // 5. Side by side.
    let scale = tenant_scale(
        (&small_base, &probe_small),
        (&big_base, &probe_big),
        (&mut small, &mut big),
    );

    let report = ledger::verify::verify_ledger(&mut big).unwrap();

    println!();
    println!(
        "measure                                               now          reference        ratio   target"
    );
    println!(
        "1 authorize+capture pairs/s, 32 clients, 20 accounts   {:>8.0}/s   floor {:>8.0}/s   {:>5.2}x   >= 1.2x  (p50 {:.1} ms, p99 {:.1} ms, errors {})",
        app_pairs.rate,
        floor_pairs,
        app_pairs.rate / floor_pairs,
        app_pairs.quantile(0.5),
        app_pairs.quantile(0.99),
        app_pairs.errors
    );
    println!(
        "2 /iap/1/balance/s, 32 clients, 20,000 accounts        {:>8.0}/s   floor {:>8.0}/s   {:>5.2}x   >= 0.8x  (p50 {:.2} ms, errors {})",
        app_balance.rate,
        floor_balance,
        app_balance.rate / floor_balance,
        app_balance.quantile(0.5),
        app_balance.errors
    );
    println!(
        "3 /api/sms/3/send, 500 numbers (median of {SMS_SAMPLES})       {:>8.1} ms   floor {:>8.1} ms   {:>5.2}x   <= 2x  ({sms_answered} answered)",
        sms_app,
        sms_floor,
        sms_app / sms_floor
    );
    let app_tail = half.quantile(0.99) / half.quantile(0.5);
    let floor_tail = floor_half.1 / floor_half.0;
    println!(
        "4 charges at half peak ({:.0}/s of {:.0}/s): p99/p50 {:>5.1} (p50 {:.1} ms, p99 {:.1} ms); floor at {:.0}/s: p99/p50 {:.1} (p50 {:.1} ms, p99 {:.1} ms)   target <= {:.1}",
        half.rate,
        peak.rate,
        app_tail,
        half.quantile(0.5),
        half.quantile(0.99),
        floor_peak / 2.0,
        floor_tail,
        floor_half.0,
        floor_half.1,
        floor_tail.max(3.0)
    );
    println!(
        "  at the peak: p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms; errors {}",
        peak.quantile(0.5),
        peak.quantile(0.99),
        peak.quantile(0.999),
        peak.errors + half.errors
    );
    println!(
        "5 {BIG_TENANTS} databases vs {SMALL_TENANTS} (medians of {SCALE_SAMPLES} interleaved)   at 100k      at 1k        ratio   target"
    );
    for (name, at_big, at_small) in &scale {
        println!(
            "  {name:<50} {:>8.2} ms  {:>8.2} ms   {:>5.2}x   <= 1.1x",
            at_big,
            at_small,
            at_big / at_small
        );
    }
    println!(
        "verify-ledger (100k): {} accounts, consistent: {}",
        report.accounts_checked,
        report.is_consistent()
    );

    if let Some(seconds) = std::env::var("IAP_BENCH_HOLD")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        // Both clusters stay up a while, to be looked at (EXPLAIN, pg_stat_*).
        println!(
            "holding for {seconds} s: {}, {}",
            small_data.display(),
            big_data.display()
        );
        std::thread::sleep(Duration::from_secs(seconds));
    }
    drop((small, big, small_server, big_server));
    let _ = small_pg.stop();
    let _ = big_pg.stop();
    let _ = std::fs::remove_dir_all(&small_data);
    let _ = std::fs::remove_dir_all(&big_data);
}

fn analyze(conn: &mut PgConnection) {
    diesel::sql_query("ANALYZE").execute(conn).unwrap();
}

/// Says which phase starts (for a profiler to catch it).
fn phase(name: &str) {
    use std::io::Write;
    println!("phase: {name}");
    let _ = std::io::stdout().flush();
}

/// `count` customer databases named `Tenant 000001`…, each with a dbuuid and an account of each
/// of `TENANT_SERVICES` (tokens and their SHA-1 made here), one in twenty with a threshold
/// that its empty balance is below. Set-based, in chunks.
fn add_tenants(conn: &mut PgConnection, count: i64) {
    let services: Vec<i64> = TENANT_SERVICES
        .iter()
        .map(|slug| catalog::service_by_slug(conn, slug).unwrap().unwrap().id.0)
        .collect();
    diesel::connection::SimpleConnection::batch_execute(conn, DBUUID_FUNCTION).unwrap();
    let chunk = 10_000;
    let mut from = 1;
    while from <= count {
        let to = (from + chunk - 1).min(count);
        diesel::sql_query(
            "INSERT INTO databases (name, subscription, dbuuid, created_at)
             SELECT tenant_name(i), 'none', tenant_dbuuid(i), now() - interval '200 days'
             FROM generate_series($1::bigint, $2::bigint) AS i",
        )
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to)
        .execute(conn)
        .unwrap();
        let (mut numbers, mut service_ids, mut tokens, mut hashes, mut thresholds) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in from..=to {
            for (s, service) in services.iter().enumerate() {
                let token = tenant_token(i, s);
                numbers.push(i);
                service_ids.push(*service);
                hashes.push(accounts::token_sha1(&token));
                tokens.push(token);
                thresholds.push(if i % 20 == 0 { 100_000i64 } else { 0 });
            }
        }
        diesel::sql_query(
            "INSERT INTO iap_accounts (database_id, service_id, token, token_sha1, threshold)
             SELECT d.id, v.service_id, v.token, v.sha1, v.threshold
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[])
                  AS v(i, service_id, token, sha1, threshold)
             JOIN databases d ON d.name = tenant_name(v.i)",
        )
        .bind::<diesel::sql_types::Array<BigInt>, _>(numbers)
        .bind::<diesel::sql_types::Array<BigInt>, _>(service_ids)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(tokens)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(hashes)
        .bind::<diesel::sql_types::Array<BigInt>, _>(thresholds)
        .execute(conn)
        .unwrap();
        from = to + 1;
    }
}

/// Tenant `i`'s dbuuid, and its name: a made-up company name of three syllables and a trade
/// (\"Belomarta Bakery\"), distinct for each of the 100,000, as varied as customers name their
/// databases (names that differ only by a number would be the worst case of a trigram index,
/// every fragment of them in every name).
const DBUUID_FUNCTION: &str = "
    CREATE OR REPLACE FUNCTION tenant_name(i bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
        SELECT initcap(
            (ARRAY['be','ka','lo','mi','nu','ra','si','to','va','ze','bri','cor','dal','fen',
                   'gor','hal','jun','kel','lin','mor','nor','pel','quin','ros','sal','tam',
                   'ul','ver','wil','yor','zan','ash','bel','cam','dor','el','fal'])[i % 37 + 1] ||
            (ARRAY['ma','ne','ri','so','tu','la','de','fi','go','hu','ja','ke','li','mo','na',
                   'pe','qua','re','sa','te','vi','wa','xe','yo','zu','bra','cre','dri','fro',
                   'gla','ple','sto','tri','vro','bla','clo','dre','fla','gri','pro','spa'])
                [(i / 37) % 41 + 1] ||
            (ARRAY['rta','nix','lem','dor','vik','sar','ton','mar','bel','fin','gus','hem',
                   'jor','kas','lum','mon','nas','pol','quer','rik','sem','tor','ult','ven',
                   'wex','yan','zor','bant','cest','dorn','elk','fors','gant','holt','isk',
                   'jast','kend','lorn','mast','nord','ost','pint','rast','selt','tarn','ulf',
                   'vand','wend','yorn','zest','brek','crast','drom','flen','grist','hask',
                   'jolt','krem','lusk','mint','nest','plex','rond','stav','trel','vost',
                   'wirt'])[(i / 1517) % 67 + 1]) || ' ' ||
            (ARRAY['Bakery','Logistics','Consulting','Studio','Garage','Pharmacy','Farms',
                   'Textiles','Builders','Dental','Florist','Print','Solar','Optics','Brewery',
                   'Motors','Travel','Foods','Labs','Legal','Media','Tools','Wines'])[i % 23 + 1]
    $$;
    CREATE OR REPLACE FUNCTION tenant_dbuuid(i bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
        SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' ||
               substr(h, 17, 4) || '-' || substr(h, 21, 12)
        FROM md5('tenant ' || i) AS h
    $$";

fn tenant_token(i: i64, service: usize) -> String {
    format!("tenant-{i:06}-{service}-0123456789abcdef0123456789")
}

/// What the scale phase requests of one app: a database of 3 accounts with its admin signed
/// in (its SMS account with `rows` ledger rows), the operator signed in, and what to search.
struct Probe {
    cookie: String,
    account_page: String,
    operator: String,
    balance_params: Value,
}

impl Probe {
    fn new(conn: &mut PgConnection, base: &str, rows: i64) -> Probe {
        let page = page_account(conn, base, "Probe tenant", rows);
        let operator = operator_session(conn, base);
        // The balance of one tenant's SMS account, as Odoo asks for it.
        let (token, dbuuid) = sms_of_tenant(conn, 77);
        Probe {
            cookie: page.cookie,
            account_page: page.page,
            operator,
            balance_params: json!({"dbuuid": dbuuid, "account_token": token, "service_name": "sms"}),
        }
    }
}

/// The SMS account of tenant `i`: its token and its database's dbuuid.
fn sms_of_tenant(conn: &mut PgConnection, i: i64) -> (String, String) {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        token: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        dbuuid: String,
    }
    let row: Row = diesel::sql_query(
        "SELECT a.token, d.dbuuid FROM iap_accounts a JOIN databases d ON d.id = a.database_id
         WHERE d.name = tenant_name($1) AND a.token = $2",
    )
    .bind::<BigInt, _>(i)
    .bind::<diesel::sql_types::Text, _>(tenant_token(i, 0))
    .get_result(conn)
    .unwrap();
    (row.token, row.dbuuid)
}

/// 20,000 of the tenants' SMS accounts, spread over all of them, as `(token, dbuuid)`.
fn balance_accounts(conn: &mut PgConnection) -> Vec<(String, String)> {
    let step = BIG_TENANTS / BALANCE_ACCOUNTS as i64;
    let numbers: Vec<i64> = (0..BALANCE_ACCOUNTS as i64).map(|n| n * step + 1).collect();
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        dbuuid: String,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT tenant_dbuuid(i) AS dbuuid FROM unnest($1::bigint[]) WITH ORDINALITY AS u(i, n)
         ORDER BY n",
    )
    .bind::<diesel::sql_types::Array<BigInt>, _>(&numbers)
    .load(conn)
    .unwrap();
    numbers
        .iter()
        .zip(rows)
        .map(|(i, row)| (tenant_token(*i, 0), row.dbuuid))
        .collect()
}

/// `count` funded SMS accounts in databases of their own.
fn funded_accounts(conn: &mut PgConnection, name: &str, count: usize) -> (Vec<String>, Vec<i64>) {
    let sms = catalog::service_by_slug(conn, "sms").unwrap().unwrap();
    (0..count)
        .map(|i| {
            let db =
                tenancy::create_database(conn, &format!("{name} {i}"), Subscription::None).unwrap();
            let account = accounts::get_or_create(conn, db.id, sms.id).unwrap();
            fund_generously(conn, account.id);
            (account.token, account.id.0)
        })
        .unzip()
}

fn provider_key(conn: &mut PgConnection, slug: &str) -> String {
    let service = catalog::service_by_slug(conn, slug).unwrap().unwrap();
    iap_credits::domain::provider_keys::create(conn, service.id, "bench provider")
        .unwrap()
        .key
}

/// The two transactions of an authorization and its capture, on plain tables.
const PAIR_FLOOR_SQL: &str = "\\set aid random(:min_id, :max_id)\n\
    BEGIN;\n\
    INSERT INTO holds (account_id, amount, status) VALUES (:aid, 10000, 'active') RETURNING id AS hold \\gset\n\
    UPDATE accounts SET reserved = reserved + 10000 WHERE id = :aid AND balance - reserved >= 10000;\n\
    END;\n\
    BEGIN;\n\
    UPDATE holds SET status = 'captured', captured = 10000 WHERE id = :hold;\n\
    UPDATE accounts SET balance = balance - 10000, reserved = reserved - 10000 WHERE id = :aid;\n\
    INSERT INTO ledger (account_id, amount, kind) VALUES (:aid, -10000, 'capture');\n\
    END;\n";

/// The balance by token, indexed.
const BALANCE_FLOOR_SQL: &str = "\\set n random(:min_id, :max_id)\n\
    SELECT balance - reserved FROM accounts WHERE token = 'token-' || lpad(:n::text, 40, '0');\n";

/// The floor's plain tables (`floor_database`'s, and holds, tokens and messages).
fn odoo_floor_database(pg: &EmbeddedPostgres, conn: &mut PgConnection) -> String {
    let name = floor_database(pg, conn);
    let mut floor = PgConnection::establish(&pg.database_url(&name)).unwrap();
    diesel::connection::SimpleConnection::batch_execute(
        &mut floor,
        &format!(
            "ALTER TABLE accounts ADD COLUMN reserved BIGINT NOT NULL DEFAULT 0,
                                 ADD COLUMN token TEXT;
             INSERT INTO accounts (id, balance, token)
                 SELECT i, 1000000000000000, 'token-' || lpad(i::text, 40, '0')
                 FROM generate_series(21, {BALANCE_ACCOUNTS}) AS i;
             UPDATE accounts SET token = 'token-' || lpad(id::text, 40, '0') WHERE token IS NULL;
             CREATE UNIQUE INDEX ON accounts (token);
             CREATE TABLE holds (id BIGSERIAL PRIMARY KEY, account_id BIGINT NOT NULL,
                                 amount BIGINT NOT NULL, captured BIGINT NOT NULL DEFAULT 0,
                                 status TEXT NOT NULL);
             CREATE TABLE messages (id BIGSERIAL PRIMARY KEY, account_id BIGINT NOT NULL,
                                    uuid TEXT NOT NULL, number TEXT NOT NULL,
                                    content TEXT NOT NULL, state TEXT NOT NULL,
                                    credit BIGINT NOT NULL);
             ANALYZE;"
        ),
    )
    .unwrap();
    name
}

/// pgbench's minimal charge at `rate` transactions/s: the (p50, p99) of its latencies in ms,
/// from its per-transaction log.
fn pgbench_latencies(
    pgbench: &Path,
    pg: &EmbeddedPostgres,
    data: &Path,
    database: &str,
    rate: f64,
    duration: Duration,
) -> (f64, f64) {
    let file = data.join("charge.sql");
    std::fs::write(&file, FLOOR_SQL).unwrap();
    let logs = data.join("pgbench-log");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).unwrap();
    let rate = format!("{rate:.0}");
    let out = pgbench_command(
        pgbench,
        pg,
        (database, &file),
        (1, SPREAD_ACCOUNTS as i64),
        duration,
        &["-R", &rate, "-l", "--log-prefix", "tx"],
    )
    .current_dir(&logs)
    .output()
    .expect("run pgbench");
    assert!(
        out.status.success(),
        "pgbench -R failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each line: client, transaction, latency (µs, from the scheduled start), script, epoch,
    // µs, schedule lag.
    let mut ms: Vec<f64> = std::fs::read_dir(&logs)
        .unwrap()
        .flat_map(|entry| {
            std::fs::read_to_string(entry.unwrap().path())
                .unwrap()
                .lines()
                .filter_map(|l| l.split_whitespace().nth(2)?.parse::<f64>().ok())
                .map(|us| us / 1000.0)
                .collect::<Vec<_>>()
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (quantile(&ms, 0.5), quantile(&ms, 0.99))
}

/// 32 clients doing `work` in a loop for `duration`, as fast as they can or, with `rate`, at
/// that many a second in all (each client on its own schedule; a latency counts from the
/// scheduled start, so that a slow answer also delays what should have followed it).
fn load(
    base: &str,
    work: &Work,
    duration: Duration,
    rate: Option<f64>,
    requests: &Arc<AtomicU64>,
) -> Run {
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let latencies = actix_web::rt::System::new().block_on(async {
        let deadline = Instant::now() + duration;
        let interval = rate.map(|r| Duration::from_secs_f64(CLIENTS as f64 / r));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (base, work, errors, requests) = (
                    base.to_string(),
                    work.clone(),
                    errors.clone(),
                    requests.clone(),
                );
                actix_web::rt::spawn(async move {
                    let client = awc::Client::builder()
                        .timeout(Duration::from_secs(30))
                        .finish();
                    let mut latencies = Vec::new();
                    let first = Instant::now()
                        + interval.map_or(Duration::ZERO, |i| i.mul_f64(c as f64 / CLIENTS as f64));
                    let mut n: u64 = 0;
                    loop {
                        let scheduled = match interval {
                            Some(i) => first + i.mul_f64(n as f64),
                            None => Instant::now(),
                        };
                        if scheduled >= deadline {
                            break;
                        }
                        if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                            actix_web::rt::time::sleep(wait).await;
                        }
                        let ok = once(&client, &base, &work, c, n).await;
                        requests.fetch_add(1, Ordering::Relaxed);
                        if ok {
                            latencies.push(scheduled.elapsed().as_secs_f64() * 1000.0);
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        n += 1;
                    }
                    latencies
                })
            })
            .collect();
        let mut all = Vec::new();
        for client in clients {
            all.extend(client.await.unwrap());
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut ms = latencies;
    ms.sort_by(f64::total_cmp);
    Run {
        rate: ms.len() as f64 / elapsed,
        ms,
        errors: errors.load(Ordering::Relaxed),
    }
}

/// An Odoo JSON-RPC call; its `result`, or None on an error.
async fn rpc(client: &awc::Client, url: &str, params: Value) -> Option<Value> {
    let mut response = client
        .post(url)
        .send_json(&json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}))
        .await
        .ok()?;
    let body: Value = response.json().limit(4 * 1024 * 1024).await.ok()?;
    body.get("result").cloned()
}

/// One unit of `work` by client `c`, its `n`th; whether it succeeded.
async fn once(client: &awc::Client, base: &str, work: &Work, c: usize, n: u64) -> bool {
    let pick = c + n as usize * CLIENTS;
    match work {
        Work::Charge { tokens } => {
            let token = &tokens[pick % tokens.len()];
            match client
                .post(format!("{base}/api/v1/charges"))
                .insert_header(("Authorization", format!("Bearer {token}")))
                .insert_header(("Content-Type", "application/json"))
                .send_body(r#"{"credits":"1","description":"bench"}"#)
                .await
            {
                Ok(mut r) => {
                    let _ = r.body().await;
                    r.status().as_u16() == 201
                }
                Err(_) => false,
            }
        }
        Work::AuthorizeCapture { tokens, key } => {
            let token = &tokens[pick % tokens.len()];
            let Some(Value::String(transaction)) = rpc(
                client,
                &format!("{base}/iap/1/authorize"),
                json!({"account_token": token, "key": key, "credit": 1, "description": "bench"}),
            )
            .await
            else {
                return false;
            };
            rpc(
                client,
                &format!("{base}/iap/1/capture"),
                json!({"token": transaction, "key": key, "credit_to_capture": 1}),
            )
            .await
                == Some(json!(true))
        }
        Work::Balance { accounts } => {
            // Random over the accounts (a fixed permutation: the same in every run).
            let i = (pick as u64).wrapping_mul(2_654_435_761) as usize % accounts.len();
            let (token, dbuuid) = &accounts[i];
            rpc(
                client,
                &format!("{base}/iap/1/balance"),
                json!({"dbuuid": dbuuid, "account_token": token, "service_name": "sms"}),
            )
            .await
            .is_some_and(|v| v.is_number())
        }
    }
}

/// The 500 numbers of an SMS call: Belgium, France, Germany, the United Kingdom and the United
/// States in turn, every twentieth one invalid.
fn sms_numbers(call: usize) -> Vec<Value> {
    (0..SMS_NUMBERS)
        .map(|i| {
            let n = (call * SMS_NUMBERS + i) % 1_000_000;
            let number = if i % 20 == 19 {
                format!("+32 12 {n}")
            } else {
                match i % 5 {
                    0 => format!("+32470{n:06}"),
                    1 => format!("+33612{n:06}"),
                    2 => format!("+4915112{n:06}"),
                    3 => format!("+447400{n:06}"),
                    _ => format!("+1650253{:04}", n % 10_000),
                }
            };
            json!({"uuid": format!("bench-{call}-{i}"), "number": number})
        })
        .collect()
}

/// The median time of an SMS call of 500 numbers, of the floor's transaction, and how many
/// numbers the last answer listed.
fn sms_call(
    conn: &mut PgConnection,
    base: &str,
    floor: &str,
    pg: &EmbeddedPostgres,
) -> (f64, f64, usize) {
    let (token, dbuuid) = sms_of_tenant(conn, 42);
    let account = accounts::by_token(conn, &token).unwrap().unwrap();
    fund_generously(conn, account.id);
    let (times, answered) = actix_web::rt::System::new().block_on(async {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish();
        let mut times = Vec::new();
        let mut answered = 0;
        for call in 0..=SMS_SAMPLES {
            let params = json!({"account_token": token, "dbuuid": dbuuid, "messages": [
                {"content": "Your order has shipped. Track it on our website.",
                 "numbers": sms_numbers(call)}]});
            let started = Instant::now();
            let result = rpc(&client, &format!("{base}/api/sms/3/send"), params)
                .await
                .expect("the SMS call answered");
            if call > 0 {
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            answered = result.as_array().map_or(0, Vec::len);
        }
        (times, answered)
    });
    let mut floor = PgConnection::establish(&pg.database_url(floor)).unwrap();
    let floor_times: Vec<f64> = (0..=SMS_SAMPLES)
        .map(|call| {
            let started = Instant::now();
            floor
                .transaction(|c| {
                    diesel::sql_query(
                        "UPDATE accounts SET balance = balance - 5000000 WHERE id = 1",
                    )
                    .execute(c)?;
                    diesel::sql_query(
                        "INSERT INTO messages (account_id, uuid, number, content, state, credit)
                         SELECT 1, 'floor-' || $1 || '-' || i, '+32470' || lpad(i::text, 6, '0'),
                                'Your order has shipped. Track it on our website.', 'sent', 10000
                         FROM generate_series(1, 500) AS i",
                    )
                    .bind::<BigInt, _>(call as i64)
                    .execute(c)
                })
                .unwrap();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .skip(1)
        .collect();
    (median(times), median(floor_times), answered)
}

/// The medians of interleaved requests to the two apps, per page.
fn tenant_scale(
    small: (&str, &Probe),
    big: (&str, &Probe),
    conns: (&mut PgConnection, &mut PgConnection),
) -> Vec<(String, f64, f64)> {
    // The first word of tenant 777's name, as an operator types it, in lower case.
    let name_of = |conn: &mut PgConnection| -> String {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
            "lower(split_part(tenant_name(777), ' ', 1))",
        ))
        .get_result(conn)
        .unwrap()
    };
    let by_name = format!("/admin/databases?q={}", name_of(conns.1));
    let uuid_of = |conn: &mut PgConnection| -> String {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
            "tenant_dbuuid(777)",
        ))
        .get_result(conn)
        .unwrap()
    };
    let (small_uuid, big_uuid) = (uuid_of(conns.0), uuid_of(conns.1));
    let pages: Vec<(&str, String, String, bool)> = vec![
        (
            "View My Services",
            "/iap/accounts".into(),
            "/iap/accounts".into(),
            false,
        ),
        (
            "Account Information",
            small.1.account_page.clone(),
            big.1.account_page.clone(),
            false,
        ),
        ("operator's search by name", by_name.clone(), by_name, true),
        (
            "operator's search by dbuuid",
            format!("/admin/databases?q={small_uuid}"),
            format!("/admin/databases?q={big_uuid}"),
            true,
        ),
        (
            "operator's dashboard",
            "/admin?period=30".into(),
            "/admin?period=30".into(),
            true,
        ),
    ];
    let mut rows = Vec::new();
    for (name, small_path, big_path, operator) in pages {
        let (small_cookie, big_cookie) = if operator {
            (&small.1.operator, &big.1.operator)
        } else {
            (&small.1.cookie, &big.1.cookie)
        };
        let (mut at_small, mut at_big) = (Vec::new(), Vec::new());
        for _ in 0..SCALE_SAMPLES {
            at_small.push(median_get(small.0, &small_path, small_cookie, 1));
            at_big.push(median_get(big.0, &big_path, big_cookie, 1));
        }
        rows.push((name.to_string(), median(at_big), median(at_small)));
    }
    // The balance, as Odoo asks for it.
    let (at_small, at_big) = actix_web::rt::System::new().block_on(async {
        let client = awc::Client::default();
        let (mut at_small, mut at_big) = (Vec::new(), Vec::new());
        for i in 0..=SCALE_SAMPLES * 5 {
            for (base, probe, times) in [
                (small.0, small.1, &mut at_small),
                (big.0, big.1, &mut at_big),
            ] {
                let started = Instant::now();
                let answer = rpc(
                    &client,
                    &format!("{base}/iap/1/balance"),
                    probe.balance_params.clone(),
                )
                .await;
                assert!(
                    answer.is_some_and(|v| v.is_number()),
                    "the balance answered"
                );
                if i > 0 {
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        (at_small, at_big)
    });
    rows.push(("/iap/1/balance".into(), median(at_big), median(at_small)));
    rows
}
