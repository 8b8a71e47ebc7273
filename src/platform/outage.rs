//! What a database error says about the database *server*: that it went away (a failover, a
//! restart), not that the request was wrong. The three doors answer such errors with 503 and
//! `Retry-After` instead of a 500, and say whether what the request wrote may have been
//! committed.

use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error};

/// The database server, not the request, failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// No connection to a primary could be had: nothing of the request was done.
    NoPrimary,
    /// The connection broke, or its server stopped accepting writes, while the request was
    /// under way. If it had sent a COMMIT, that commit may have happened: only a retry with the
    /// same idempotency key (or a look at the records) tells.
    ConnectionLost,
}

/// Whether `error` is an outage, and which.
pub fn outage(error: &Error) -> Option<Outage> {
    match error {
        Error::DatabaseError(kind, info) => match kind {
            DatabaseErrorKind::ClosedConnection if info.message() == NO_PRIMARY => {
                Some(Outage::NoPrimary)
            }
            DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            // Only a standby refuses writes here: the primary was demoted under us.
            | DatabaseErrorKind::ReadOnlyTransaction => Some(Outage::ConnectionLost),
            _ if says_server_went_away(info.message()) => Some(Outage::ConnectionLost),
            _ => None,
        },
        _ => None,
    }
}

/// What PostgreSQL says as it shuts down, restarts or is promoted, for errors diesel does not
/// class as a closed connection (the connection may still look open when they arrive).
fn says_server_went_away(message: &str) -> bool {
    const SAID: [&str; 6] = [
        "terminating connection",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
        "server closed the connection",
        "no connection to the server",
    ];
    SAID.iter().any(|said| message.contains(said))
}

/// The outage an error's text tells of, for errors that reached us only as text (a service's
/// error that wraps a database error in its own words).
pub fn in_message(text: &str) -> Option<Outage> {
    if text.contains(NO_PRIMARY) || text.contains("timed out waiting for connection") {
        Some(Outage::NoPrimary)
    } else if says_server_went_away(text) {
        Some(Outage::ConnectionLost)
    } else {
        None
    }
}

const NO_PRIMARY: &str = "no connection to a primary database server";

/// The error a request gets when the pool could not lend it a connection (no primary
/// answers): an outage in which nothing was done.
pub fn no_primary(cause: &diesel::r2d2::PoolError) -> Error {
    tracing::warn!("no database connection: {cause}");
    Error::DatabaseError(
        DatabaseErrorKind::ClosedConnection,
        Box::new(NO_PRIMARY.to_string()),
    )
}

/// An error of the same outage for another request: each charge of a group-commit batch whose
/// connection broke answers its own copy of the batch's error.
pub fn copy_of(error: &Error) -> Option<Error> {
    let copy = |kind, info: &dyn DatabaseErrorInformation| {
        Error::DatabaseError(kind, Box::new(info.message().to_string()))
    };
    match (outage(error)?, error) {
        (Outage::NoPrimary, _) => Some(copy(
            DatabaseErrorKind::ClosedConnection,
            &NO_PRIMARY.to_string(),
        )),
        (Outage::ConnectionLost, Error::DatabaseError(_, info)) => {
            Some(copy(DatabaseErrorKind::ClosedConnection, info.as_ref()))
        }
        (Outage::ConnectionLost, _) => None,
    }
}

/// Seconds a client should wait before retrying during an outage: a failover takes 10–15 s
/// (`docs/high-availability.md`), a planned switchover a few.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// What the API and Odoo's protocol say when the connection was lost mid-request.
pub const OUTCOME_UNKNOWN: &str = "The connection to the database was lost while this request was under way (the database is switching over), so its outcome is unknown. Retry with the same Idempotency-Key in a few seconds: it will have its effect once.";

/// What they say when no primary could be reached at all.
pub const SWITCHING_OVER: &str = "The service is switching over to another database server. Nothing was done; try again in a few seconds.";

/// Whether `info` is ours (for tests that need an outage without a failover).
pub fn is_no_primary(info: &dyn DatabaseErrorInformation) -> bool {
    info.message() == NO_PRIMARY
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_string()))
    }

    #[test]
    fn a_lost_connection_is_an_outage_whose_outcome_is_unknown() {
        for (kind, message) in [
            (
                DatabaseErrorKind::ClosedConnection,
                "server closed the connection unexpectedly",
            ),
            (
                DatabaseErrorKind::UnableToSendCommand,
                "no connection to the server",
            ),
            (
                DatabaseErrorKind::ReadOnlyTransaction,
                "cannot execute INSERT in a read-only transaction",
            ),
            (
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
            ),
        ] {
            assert_eq!(
                outage(&db_error(kind, message)),
                Some(Outage::ConnectionLost),
                "{message}"
            );
        }
    }

    #[test]
    fn no_connection_at_all_is_an_outage_where_nothing_was_done() {
        let pool =
            diesel::r2d2::Pool::builder().build_unchecked(diesel::r2d2::ConnectionManager::<
                diesel::PgConnection,
            >::new(
                "postgresql://nobody@127.0.0.1:1/none"
            ));
        let cause = pool
            .get_timeout(std::time::Duration::from_millis(10))
            .err()
            .unwrap();
        let error = no_primary(&cause);
        assert_eq!(outage(&error), Some(Outage::NoPrimary));
        let Error::DatabaseError(_, info) = &error else {
            unreachable!()
        };
        assert!(is_no_primary(info.as_ref()));
    }

    #[test]
    fn an_outage_told_in_words_is_still_an_outage() {
        let lost = "metering: server closed the connection unexpectedly";
        assert_eq!(in_message(lost), Some(Outage::ConnectionLost));
        let none = "timed out waiting for connection: Connection refused";
        assert_eq!(in_message(none), Some(Outage::NoPrimary));
        assert_eq!(in_message("the carrier refused the message"), None);
    }

    #[test]
    fn what_the_request_did_wrong_is_not_an_outage() {
        for (kind, message) in [
            (DatabaseErrorKind::UniqueViolation, "duplicate key value"),
            (
                DatabaseErrorKind::CheckViolation,
                "violates check constraint",
            ),
            (DatabaseErrorKind::Unknown, "syntax error at or near"),
        ] {
            assert_eq!(outage(&db_error(kind, message)), None, "{message}");
        }
        assert_eq!(outage(&Error::NotFound), None);
        assert_eq!(outage(&Error::RollbackTransaction), None);
    }
}
