//! Least privilege: requests are served as a role that can only do what the app does. The
//! ledger, the audit log and the refunds take new rows only, an order's amounts cannot change,
//! and no DDL (dropping the append-only triggers first of all) is possible.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use iap_credits::domain::tenancy::Subscription;
use iap_credits::platform::db::{APP_ROLE, current_role};

use crate::fixtures::{Customer, assert_consistent};
use crate::harness::TestDb;

/// Runs `sql` as the app's role and returns PostgreSQL's refusal.
fn refused(conn: &mut PgConnection, sql: &str) -> String {
    match conn.batch_execute(sql) {
        Ok(()) => panic!("the app's role could run: {sql}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_apps_role_cannot_rewrite_money_history_or_change_the_schema() {
    let db = TestDb::new();
    let mut conn = db.conn();
    assert_eq!(current_role(&mut conn).unwrap(), APP_ROLE);
    let customer = Customer::new(&mut conn, Subscription::None);
    let account = customer.funded(&mut conn, "sms", "50");
    let mut owner = db.owner_conn();
    // An order, as the checkout writes it.
    owner
        .batch_execute(&format!(
            "INSERT INTO orders (database_id, account_id, pack_id, pack_name, credits, price_minor, currency, status, expires_at) \
             SELECT {db}, {acc}, id, name, credits, price_minor, currency, 'pending', now() + interval '1 hour' FROM packs LIMIT 1; \
             INSERT INTO audit_log (operator_email, action, subject, reason) VALUES ('op@example.com', 'test', 'x', 'y');",
            db = account.database_id,
            acc = account.id,
        ))
        .unwrap();

    let denials = [
        // The ledger: no privilege at all, before the append-only trigger is even reached.
        "UPDATE ledger_entries SET amount = amount * 2",
        "DELETE FROM ledger_entries",
        "TRUNCATE ledger_entries",
        // The audit log and the refunds, the same.
        "UPDATE audit_log SET reason = 'nothing happened'",
        "DELETE FROM audit_log",
        "UPDATE refunds SET amount_minor = 0",
        "DELETE FROM refunds",
        // An order may change state, never its credits, price or account.
        "UPDATE orders SET credits = credits * 10",
        "UPDATE orders SET price_minor = 0",
        "DELETE FROM orders",
        // No DDL: the guards of the ledger stay where they are.
        "DROP TRIGGER ledger_entries_no_update_or_delete ON ledger_entries",
        "ALTER TABLE ledger_entries DISABLE TRIGGER ALL",
        "DROP TABLE audit_log",
        "CREATE TABLE notes (id int)",
        "DELETE FROM __diesel_schema_migrations",
    ];
    for sql in denials {
        let error = refused(&mut conn, sql);
        assert!(
            error.contains("permission denied") || error.contains("must be owner"),
            "{sql}: {error}"
        );
    }
    // What the app does is allowed: an order moves to another state.
    conn.batch_execute("UPDATE orders SET status = 'expired'")
        .unwrap();
    assert_consistent(&mut conn);
    let entries: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM ledger_entries)",
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(entries, 1, "the grant is still there, once");
}
