//! Company directory searches on the full generated directory: p50/p95/p99 of what Partner
//! Autocomplete asks as a user types (name prefixes), and of exact VAT and domain look-ups.
//! Target: p95 ≤ 20 ms. Run with `cargo bench --bench directory`.

use std::time::Instant;

use diesel::{Connection, PgConnection};
use iap_credits::platform::embedded_pg::{EmbeddedPostgres, LaunchOptions};
use iap_credits::services::directory::{self, generate};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let data = std::env::temp_dir().join(format!("iap-bench-dir-{}", std::process::id()));
    let pg = EmbeddedPostgres::start(&LaunchOptions::new(&data, None)).expect("start PostgreSQL");
    let mut conn = PgConnection::establish(&pg.app_database_url()).unwrap();
    iap_credits::platform::db::run_migrations(&mut conn).unwrap();
    let started = Instant::now();
    directory::seed(&mut conn, generate::COMPANIES).unwrap();
    println!(
        "seeded {} companies in {:.1}s",
        generate::COMPANIES,
        started.elapsed().as_secs_f64()
    );
    diesel::RunQueryDsl::execute(diesel::sql_query("ANALYZE"), &mut conn).unwrap();

    let mut queries = Vec::new();
    for n in (0..generate::COMPANIES).step_by(40) {
        let c = generate::company(n);
        // What a user has typed after 3, 5 and 8 letters, and the whole name.
        for len in [3, 5, 8] {
            queries.push(("name", c.name.chars().take(len).collect::<String>()));
        }
        queries.push(("name", c.name.clone()));
        if let Some(vat) = c.vat {
            queries.push(("vat", vat));
        }
        queries.push(("domain", c.domain));
    }
    for kind in ["name", "vat", "domain"] {
        let mut times: Vec<f64> = queries
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, q)| {
                let t = Instant::now();
                let found = directory::search(&mut conn, q).unwrap();
                std::hint::black_box(found);
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{kind:<7} {:>5} searches: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms (target p95 <= 20 ms)",
            times.len(),
            percentile(&times, 0.50),
            percentile(&times, 0.95),
            percentile(&times, 0.99),
        );
    }
    drop(conn);
    let _ = pg.stop();
    let _ = std::fs::remove_dir_all(&data);
}
