//! One owner per table: only the module that owns a table writes it (`insert_into`, `update`,
//! `delete` of `schema::<table>`, or INSERT/UPDATE/DELETE in SQL text). This test reads `src/`
//! and names every write made from outside the owner, so the map stays honest as code grows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;

/// Each table's owner: a file, or a folder (a module with its submodules).
const OWNERS: &[(&str, &str)] = &[
    ("app_events", "src/demo/mod.rs"),
    ("auto_topups", "src/domain/topup/"),
    ("billing_details", "src/domain/invoices/"),
    ("audit_log", "src/domain/audit.rs"),
    ("company_lookups", "src/services/leads/"),
    ("contact_events", "src/services/contacts/"),
    ("contacts", "src/services/contacts/"),
    ("databases", "src/domain/tenancy.rs"),
    ("digitizations", "src/services/digitization/"),
    ("directory_companies", "src/services/directory/"),
    ("directory_people", "src/services/directory/"),
    ("documents", "src/services/documents/"),
    ("email_outbox", "src/domain/mail/"),
    ("enrichments", "src/services/partner_autocomplete.rs"),
    ("holds", "src/domain/ledger/"),
    ("iap_accounts", "src/domain/ledger/"),
    ("iap_transactions", "src/domain/ledger/"),
    ("identifications", "src/services/signing/"),
    ("idempotency_keys", "src/domain/ledger/"),
    ("invoice_counters", "src/domain/invoices/"),
    ("invoice_settings", "src/domain/invoices/"),
    ("invoices", "src/domain/invoices/"),
    ("lead_contacts", "src/services/leads/"),
    ("lead_events", "src/services/leads/"),
    ("lead_requests", "src/services/leads/"),
    ("leads", "src/services/leads/"),
    ("ledger_daily", "src/domain/ledger/"),
    ("ledger_entries", "src/domain/ledger/"),
    ("letters", "src/services/snailmail/"),
    ("orders", "src/domain/orders/"),
    ("packs", "src/domain/catalog/"),
    ("payment_attempts", "src/domain/orders/"),
    ("payment_methods", "src/domain/payments/"),
    ("postage_countries", "src/services/snailmail/"),
    ("postage_zones", "src/services/snailmail/"),
    ("provider_keys", "src/domain/provider_keys.rs"),
    ("refunds", "src/domain/orders/"),
    ("sales_daily", "src/domain/orders/"),
    ("service_jobs", "src/domain/metering/"),
    ("services", "src/domain/catalog/"),
    ("sign_in_throttle", "src/domain/auth/"),
    ("sign_requests", "src/services/signing/"),
    ("signers", "src/services/signing/"),
    ("simulated_provider_records", "src/platform/simulation.rs"),
    ("sms_messages", "src/services/sms/"),
    ("sms_prices", "src/services/sms/"),
    ("usage_prices", "src/domain/catalog/"),
    ("user_sessions", "src/domain/auth/"),
    ("users", "src/domain/tenancy.rs"),
    ("vendor_bills", "src/services/digitization/"),
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

/// Every write to one of `tables` in `source`, resolving `use crate::platform::schema::{x as y}` aliases.
fn writes_in(source: &str, tables: &[String]) -> Vec<Write> {
    let mut aliases: BTreeMap<String, String> =
        tables.iter().map(|t| (t.clone(), t.clone())).collect();
    let alias = Regex::new(r"\b([a-z_]+) as ([a-z_]+)").unwrap();
    let schema_use =
        Regex::new(r"use crate::platform::schema::(\{[^}]*\}|[a-z_]+ as [a-z_]+)").unwrap();
    for used in schema_use.captures_iter(source) {
        for c in alias.captures_iter(&used[1]) {
            aliases.insert(c[2].to_string(), c[1].to_string());
        }
    }
    let dsl = Regex::new(
        r"\b(insert_into|update|delete)\(\s*(?:crate::platform::schema::)?([a-z_]+)::table\b",
    )
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

/// Writes whose table the scanner cannot see, by line: a diesel write whose target is not
/// written `<table>::table…` (`let t = orders::table; diesel::update(t)`, a helper returning
/// the table), SQL whose table is formatted in, and diesel's write functions imported by name
/// (so that a bare `update(…)` could hide). Each must be rewritten so that the table shows.
fn unseen_writes_in(source: &str, tables: &[String]) -> Vec<usize> {
    let line_of = |offset: usize| source[..offset].matches('\n').count() + 1;
    let known = |name: &str| {
        tables.iter().any(|t| t == name)
            || Regex::new(&format!(r"\b[a-z_]+ as {name}\b"))
                .unwrap()
                .is_match(source)
    };
    let dsl = Regex::new(
        r"\bdiesel::(?:insert_into|update|delete)\(\s*(?:crate::platform::schema::|schema::)?([A-Za-z_][A-Za-z0-9_]*)(::table\b)?",
    )
    .unwrap();
    let mut lines: Vec<usize> = dsl
        .captures_iter(source)
        .filter(|c| c.get(2).is_none() || !known(&c[1]))
        .map(|c| line_of(c.get(0).unwrap().start()))
        .collect();
    let formatted = Regex::new(r"\b(?:INSERT INTO|UPDATE|DELETE FROM)\s+[{$]").unwrap();
    lines.extend(formatted.find_iter(source).map(|m| line_of(m.start())));
    let imported = Regex::new(
        r"use diesel::(?:\*|(?:dsl::|query_dsl::)?(?:insert_into|update|delete)\b|\{[^}]*\b(?:insert_into|update|delete)\b[^}]*\})",
    )
    .unwrap();
    lines.extend(imported.find_iter(source).map(|m| line_of(m.start())));
    lines.sort_unstable();
    lines
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
    use iap_credits::platform::db::APP_PRIVILEGES;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tables =
        schema_tables(&std::fs::read_to_string(root.join("src/platform/schema.rs")).unwrap());
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
    let tables =
        schema_tables(&std::fs::read_to_string(root.join("src/platform/schema.rs")).unwrap());
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
        if file == "src/platform/schema.rs" {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for line in unseen_writes_in(&source, &tables) {
            out.push(format!(
                "{file}:{line} writes a table the scanner cannot see: write \
                 `diesel::update(<table>::table…)` (or the SQL's table by name)"
            ));
        }
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
    let tables =
        schema_tables(&std::fs::read_to_string(root.join("src/platform/schema.rs")).unwrap());
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
fn a_write_whose_table_is_hidden_is_named_too() {
    let tables: Vec<String> = ["orders", "holds"].map(String::from).to_vec();
    let source = r#"
use crate::platform::schema::{holds as h, orders};
fn f(conn: &mut PgConnection) {
    let t = orders::table;
    diesel::update(t).set(x).execute(conn);
    diesel::delete(table_of_orders()).execute(conn);
    diesel::sql_query(format!("DELETE FROM {} WHERE id = 1", "orders"));
    diesel::update(h::table.find(1)).set(y);
    diesel::insert_into(orders::table).values(z);
}
use diesel::{insert_into, update};
use diesel::delete;
"#;
    assert_eq!(unseen_writes_in(source, &tables), [5, 6, 7, 11, 12]);
    // As the whole check sees it: a file outside the owner that hides its write fails.
    let planted = tempfile::tempdir().unwrap();
    let src = planted.path().join("src");
    std::fs::create_dir_all(src.join("platform")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/platform/schema.rs"),
        src.join("platform/schema.rs"),
    )
    .unwrap();
    std::fs::write(
        src.join("sneaky.rs"),
        "fn f(c: &mut PgConnection) { let t = orders::table; diesel::update(t).set(x).execute(c); }\n",
    )
    .unwrap();
    let found = violations(planted.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("src/sneaky.rs:1 writes a table the scanner cannot see"));
}

#[test]
fn the_scanner_finds_writes_through_the_dsl_aliases_and_sql() {
    let tables: Vec<String> = ["orders", "holds", "sms_messages", "users"]
        .map(String::from)
        .to_vec();
    let source = r#"
use crate::platform::schema::{holds as holds_table, orders};
fn f(conn: &mut PgConnection) {
    diesel::insert_into(orders::table).values(x).execute(conn);
    diesel::update(
        holds_table::table.find(1),
    ).set(y);
    diesel::delete(crate::platform::schema::users::table.filter(z));
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
    assert!(is_owned_by(
        "src/domain/orders/refunds.rs",
        "src/domain/orders/"
    ));
    assert!(!is_owned_by(
        "src/web/admin/orders.rs",
        "src/domain/orders/"
    ));
    assert!(!is_owned_by(
        "src/domain/tenancy_extra.rs",
        "src/domain/tenancy.rs"
    ));
}
