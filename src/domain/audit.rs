//! The audit log: who did what to what, with the state before and after, for every operator
//! action. Owner of `audit_log`: the modules that carry out operator actions call `record` in
//! the transaction of the action itself; the table refuses UPDATE and DELETE.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

use crate::kernel::ids::{DatabaseId, UserId};
use crate::platform::schema::audit_log;

/// The signed-in operator doing something.
#[derive(Debug, Clone)]
pub struct Operator {
    pub user_id: UserId,
    pub email: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
pub struct AuditEntry {
    pub id: i64,
    pub operator_email: String,
    pub action: String,
    pub subject: String,
    pub database_id: Option<DatabaseId>,
    pub reason: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub created_at: DateTime<Utc>,
}

/// One action to record.
pub struct Action<'a> {
    /// "order.refund", "account.adjust", "service.update", …
    pub action: &'a str,
    /// "order:12", "account:3", …
    pub subject: String,
    pub database_id: Option<DatabaseId>,
    pub reason: Option<&'a str>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// An audit row as written.
#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct AuditInsertForm<'a> {
    operator_id: UserId,
    operator_email: &'a str,
    action: &'a str,
    subject: &'a str,
    database_id: Option<DatabaseId>,
    reason: Option<&'a str>,
    before: Option<Value>,
    after: Option<Value>,
}

pub fn record(conn: &mut PgConnection, operator: &Operator, action: Action<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values(AuditInsertForm {
            operator_id: operator.user_id,
            operator_email: &operator.email,
            action: action.action,
            subject: &action.subject,
            database_id: action.database_id,
            reason: action.reason,
            before: action.before,
            after: action.after,
        })
        .execute(conn)?;
    Ok(())
}

/// What the audit page filters on; empty fields match everything.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// An action or its prefix ("order." matches every order action).
    pub action: String,
    pub operator: String,
    /// Exact subject, e.g. "order:12".
    pub subject: String,
    /// Keyset pagination: entries older than this id.
    pub before_id: Option<i64>,
}

/// Entries matching `filter`, newest first, at most `limit`.
pub fn list(
    conn: &mut PgConnection,
    filter: &AuditFilter,
    limit: i64,
) -> QueryResult<Vec<AuditEntry>> {
    let mut query = audit_log::table
        .order(audit_log::id.desc())
        .limit(limit)
        .select(AuditEntry::as_select())
        .into_boxed();
    let action = filter.action.trim();
    if !action.is_empty() {
        query = query.filter(
            audit_log::action.like(format!("{}%", crate::platform::db::escape_like(action))),
        );
    }
    let operator = filter.operator.trim();
    if !operator.is_empty() {
        query = query.filter(
            audit_log::operator_email
                .ilike(format!("%{}%", crate::platform::db::escape_like(operator))),
        );
    }
    let subject = filter.subject.trim();
    if !subject.is_empty() {
        query = query.filter(audit_log::subject.eq(subject.to_string()));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(audit_log::id.lt(before));
    }
    query.load(conn)
}
