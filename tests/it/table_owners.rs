//! One owner per table: only the module that owns a table writes it (`insert_into`, `update`,
//! `delete` of `schema::<table>`, or INSERT/UPDATE/DELETE in SQL text). This test reads `src/`
//! and names every write made from outside the owner, so the map stays honest as code grows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;

/// Each table's owner: a file, or a folder (a module with its submodules).
const OWNERS: &[(&str, &str)] = &[
    ("app_events", "src/demo.rs"),
    ("auto_topups", "src/topup/"),
    ("billing_details", "src/invoices/"),
    ("audit_log", "src/audit.rs"),
    ("company_lookups", "src/leads/"),
    ("contact_events", "src/contacts/"),
    ("contacts", "src/contacts/"),
    ("databases", "src/tenancy.rs"),
    ("digitizations", "src/digitization/"),
    ("directory_companies", "src/directory/"),
    ("directory_people", "src/directory/"),
    ("documents", "src/documents/"),
    ("email_outbox", "src/mail/"),
    ("enrichments", "src/partner_autocomplete.rs"),
    ("holds", "src/ledger/"),
    ("iap_accounts", "src/ledger/"),
    ("iap_transactions", "src/odoo/"),
    ("identifications", "src/signing/"),
    ("idempotency_keys", "src/ledger/"),
    ("invoice_counters", "src/invoices/"),
    ("invoice_settings", "src/invoices/"),
    ("invoices", "src/invoices/"),
    ("lead_contacts", "src/leads/"),
    ("lead_events", "src/leads/"),
    ("lead_requests", "src/leads/"),
    ("leads", "src/leads/"),
    ("ledger_daily", "src/ledger/"),
    ("ledger_entries", "src/ledger/"),
    ("letters", "src/snailmail/"),
    ("orders", "src/orders/"),
    ("packs", "src/catalog/"),
    ("payment_attempts", "src/orders/"),
    ("payment_methods", "src/payments/"),
    ("postage_countries", "src/snailmail/"),
    ("postage_zones", "src/snailmail/"),
    ("provider_keys", "src/provider_keys.rs"),
    ("refunds", "src/orders/"),
    ("sales_daily", "src/orders/"),
    ("service_jobs", "src/metering/"),
    ("services", "src/catalog/"),
    ("sign_in_throttle", "src/auth/"),
    ("sign_requests", "src/signing/"),
    ("signers", "src/signing/"),
    ("simulated_provider_records", "src/simulation.rs"),
    ("sms_messages", "src/sms/"),
    ("sms_prices", "src/sms/"),
    ("usage_prices", "src/catalog/"),
    ("user_sessions", "src/auth/"),
    ("users", "src/tenancy.rs"),
    ("vendor_bills", "src/digitization/"),
];

/// Writes allowed outside the owner: (file, table, why). Keep it short; every line is a debt.
const ALLOWED: &[(&str, &str, &str)] = &[];

/// A write found in a file: the table and the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Write {
    table: String,
    line: usize,
    /// INSERT, UPDATE or DELETE.
    kind: &'static str,
}

fn kind_of(word: &str) -> &'static str {
    match word {
        "insert_into" | "INSERT INTO" => "INSERT",
        "update" | "UPDATE" => "UPDATE",
        _ => "DELETE",
    }
}

/// The tables `schema.rs` declares.
fn schema_tables(schema: &str) -> Vec<String> {
    let table = Regex::new(r"(?m)^\s*([a-z_]+) \([a-z_, ]+\) \{").unwrap();
    table
        .captures_iter(schema)
        .map(|c| c[1].to_string())
        .collect()
}

/// Every write to one of `tables` in `source`, resolving `use crate::schema::{x as y}` aliases.
fn writes_in(source: &str, tables: &[String]) -> Vec<Write> {
    let mut aliases: BTreeMap<String, String> =
        tables.iter().map(|t| (t.clone(), t.clone())).collect();
    let alias = Regex::new(r"\b([a-z_]+) as ([a-z_]+)").unwrap();
    let schema_use = Regex::new(r"use crate::schema::(\{[^}]*\}|[a-z_]+ as [a-z_]+)").unwrap();
    for used in schema_use.captures_iter(source) {
        for c in alias.captures_iter(&used[1]) {
            aliases.insert(c[2].to_string(), c[1].to_string());
        }
    }
    let dsl =
        Regex::new(r"\b(insert_into|update|delete)\(\s*(?:crate::schema::)?([a-z_]+)::table\b")
            .unwrap();
    let sql = Regex::new(r"\b(INSERT INTO|UPDATE|DELETE FROM)\s+([a-z_]+)\b").unwrap();
    let line_of = |offset: usize| source[..offset].matches('\n').count() + 1;
    let mut found = Vec::new();
    for c in dsl.captures_iter(source) {
        if let Some(table) = aliases.get(&c[2]) {
            found.push(Write {
                table: table.clone(),
                line: line_of(c.get(0).unwrap().start()),
                kind: kind_of(&c[1]),
            });
        }
    }
    for c in sql.captures_iter(source) {
        if tables.contains(&c[2].to_string()) {
            found.push(Write {
                table: c[2].to_string(),
                line: line_of(c.get(0).unwrap().start()),
                kind: kind_of(&c[1]),
            });
        }
    }
    found
}

fn owner_of(table: &str) -> Option<&'static str> {
    OWNERS.iter().find(|(t, _)| *t == table).map(|(_, o)| *o)
}

fn is_owned_by(file: &str, owner: &str) -> bool {
    if owner.ends_with('/') {
        file.starts_with(owner)
    } else {
        file == owner
    }
}

/// Privileges the app's role holds though no write in `src/` shows them: (table, privilege,
/// why). Everything else granted must be used, and everything used must be granted.
const GRANTED_WITHOUT_A_WRITE_IN_SRC: &[(&str, &str, &str)] = &[
    (
        "email_outbox",
        "INSERT",
        "the low-credit alert and receipt triggers queue mail as the role whose write fired them",
    ),
    (
        "sms_prices",
        "UPDATE",
        "set_price is an upsert (ON CONFLICT DO UPDATE)",
    ),
    (
        "billing_details",
        "UPDATE",
        "save_billing_details is an upsert (ON CONFLICT DO UPDATE)",
    ),
    (
        "invoice_counters",
        "INSERT",
        "the invoice trigger takes the year's next number as the role that marked the order paid",
    ),
    (
        "invoice_counters",
        "UPDATE",
        "the invoice trigger takes the year's next number as the role that marked the order paid",
    ),
    (
        "ledger_daily",
        "INSERT",
        "the ledger's statement trigger sums each statement's rows into the day's rollup",
    ),
    (
        "ledger_daily",
        "UPDATE",
        "the ledger's statement trigger sums each statement's rows into the day's rollup",
    ),
    (
        "sales_daily",
        "INSERT",
        "the paid-order and refund triggers add to the day's rollup",
    ),
    (
        "sales_daily",
        "UPDATE",
        "the paid-order and refund triggers add to the day's rollup",
    ),
    (
        "invoices",
        "INSERT",
        "the invoice trigger issues it as the role that marked the order paid",
    ),
];

/// Tables that only the schema's owner writes (at start, in `prepare_database`): the app's
/// role only reads them.
const WRITTEN_BY_THE_OWNER_ONLY: &[(&str, &str)] = &[
    (
        "directory_companies",
        "the simulated directory is generated at start",
    ),
    (
        "directory_people",
        "the simulated directory is generated at start",
    ),
];

/// The kinds of write (INSERT/UPDATE/DELETE) a GRANT list names.
fn granted_writes(privileges: &str) -> Vec<&'static str> {
    ["INSERT", "UPDATE", "DELETE"]
        .into_iter()
        .filter(|kind| privileges.contains(kind))
        .collect()
}

#[test]
fn the_apps_role_may_write_what_src_writes_and_nothing_more() {
    use iap_credits::db::APP_PRIVILEGES;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tables = schema_tables(&std::fs::read_to_string(root.join("src/schema.rs")).unwrap());
    let mut granted: Vec<&str> = APP_PRIVILEGES.iter().map(|(t, _)| *t).collect();
    granted.sort();
    let mut sorted = tables.clone();
    sorted.sort();
    assert_eq!(granted, sorted, "APP_PRIVILEGES names every table once");

    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut used: BTreeMap<(String, &str), String> = BTreeMap::new();
    for path in files.iter().filter(|p| !p.ends_with("schema.rs")) {
        for write in writes_in(&std::fs::read_to_string(path).unwrap(), &tables) {
            used.entry((write.table, write.kind))
                .or_insert_with(|| format!("{}:{}", path.display(), write.line));
        }
    }
    let mut problems = Vec::new();
    for ((table, kind), at) in &used {
        if WRITTEN_BY_THE_OWNER_ONLY.iter().any(|(t, _)| t == table) {
            continue;
        }
        let privileges = APP_PRIVILEGES.iter().find(|(t, _)| t == table).unwrap().1;
        if !granted_writes(privileges).contains(kind) {
            problems.push(format!(
                "{at} needs {kind} on {table}, which is not granted"
            ));
        }
    }
    for (table, privileges) in APP_PRIVILEGES {
        for kind in granted_writes(privileges) {
            let explained = GRANTED_WITHOUT_A_WRITE_IN_SRC
                .iter()
                .any(|(t, k, _)| t == table && *k == kind);
            if !used.contains_key(&(table.to_string(), kind)) && !explained {
                problems.push(format!(
                    "{kind} on {table} is granted but nothing in src/ does it"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Writes from outside their table's owner (less the allowed ones), as "file:line table".
fn violations(root: &Path) -> Vec<String> {
    let tables = schema_tables(&std::fs::read_to_string(root.join("src/schema.rs")).unwrap());
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if file == "src/schema.rs" {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for write in writes_in(&source, &tables) {
            let owner = owner_of(&write.table).unwrap_or("(no owner)");
            let allowed = ALLOWED
                .iter()
                .any(|(f, t, _)| *f == file && *t == write.table);
            if !is_owned_by(&file, owner) && !allowed {
                out.push(format!(
                    "{file}:{} writes {} (owned by {owner})",
                    write.line, write.table
                ));
            }
        }
    }
    out
}

#[test]
fn only_the_owner_of_a_table_writes_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tables = schema_tables(&std::fs::read_to_string(root.join("src/schema.rs")).unwrap());
    assert!(tables.len() >= 18, "schema tables not found: {tables:?}");
    let unowned: Vec<_> = tables.iter().filter(|t| owner_of(t).is_none()).collect();
    assert!(
        unowned.is_empty(),
        "every table needs an owner in OWNERS: {unowned:?}"
    );
    let found = violations(root);
    assert!(
        found.is_empty(),
        "tables written outside their owner (call the owner's functions instead, or add an \
         ALLOWED line saying why):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_finds_writes_through_the_dsl_aliases_and_sql() {
    let tables: Vec<String> = ["orders", "holds", "sms_messages", "users"]
        .map(String::from)
        .to_vec();
    let source = r#"
use crate::schema::{holds as holds_table, orders};
fn f(conn: &mut PgConnection) {
    diesel::insert_into(orders::table).values(x).execute(conn);
    diesel::update(
        holds_table::table.find(1),
    ).set(y);
    diesel::delete(crate::schema::users::table.filter(z));
    diesel::sql_query("UPDATE sms_messages m SET status = 'x' FOR UPDATE SKIP LOCKED");
    // Reads and prose are not writes: "the table refuses UPDATE and DELETE".
    orders::table.select(orders::id).load(conn);
}
"#;
    let found: Vec<(String, usize, &str)> = writes_in(source, &tables)
        .into_iter()
        .map(|w| (w.table, w.line, w.kind))
        .collect();
    assert_eq!(
        found,
        [
            ("orders".to_string(), 4, "INSERT"),
            ("holds".to_string(), 5, "UPDATE"),
            ("users".to_string(), 8, "DELETE"),
            ("sms_messages".to_string(), 9, "UPDATE"),
        ]
    );
    assert!(is_owned_by("src/orders/refunds.rs", "src/orders/"));
    assert!(!is_owned_by("src/web/admin/orders.rs", "src/orders/"));
    assert!(!is_owned_by("src/tenancy_extra.rs", "src/tenancy.rs"));
}
