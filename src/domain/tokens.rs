//! An Odoo database's IAP account tokens. A token is an account: what a token names, checked
//! against what a call says of it, and a new token registered with its database (by dbuuid) on
//! first sight. Shared by Odoo's protocol (`odoo/`) and the "Buy credits" link (`credit_link`).

use diesel::{Connection, PgConnection};

use crate::domain::auth::throttle;
use crate::domain::catalog::Service;
use crate::domain::ledger::{self, IapAccount, LedgerError};
use crate::domain::tenancy;

/// A dbuuid: Odoo's `database.uuid`, a UUID in its canonical form (lowercase here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dbuuid(String);

impl Dbuuid {
    pub fn parse(text: &str) -> Option<Dbuuid> {
        let text = text.trim().to_ascii_lowercase();
        let groups: Vec<&str> = text.split('-').collect();
        let lengths_ok = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]);
        let hex_ok = groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
        (lengths_ok && hex_ok).then_some(Dbuuid(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An account token as Odoo makes them (`uuid4().hex`), or one of ours.
pub fn is_token(text: &str) -> bool {
    (32..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A token of a neutralized copy of a database (a test or staging copy): Odoo's
/// `iap/data/neutralize.sql` appends `+disabled` to every token.
pub fn is_neutralized(token: &str) -> bool {
    token.ends_with("+disabled")
}

/// What a neutralized copy is told: it never registers or spends anything here.
pub const NEUTRALIZED: &str = "This database is a neutralized copy (its IAP account tokens end in \
     \"+disabled\"): it cannot register an account or spend credits. Use the production \
     database, or give this copy an IAP account of its own.";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not the caller's to use: another database's or another service's.
    #[error("{0}")]
    Refused(&'static str),
    /// Too many new accounts were registered from the caller's address.
    #[error(
        "Too many new IAP accounts were registered from your address: try again after {}.",
        .0.format("%H:%M UTC")
    )]
    Throttled(chrono::DateTime<chrono::Utc>),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// The account `token` names, checked against what the call says of it; registered (with its
/// database, by `dbuuid`) when the token is new and the call names the database and the
/// service — counted against the caller's address `from`, which may register only so many in
/// a while. `None`: a new token the call does not say enough about to register.
pub fn account_for(
    conn: &mut PgConnection,
    from: &str,
    dbuuid: Option<&Dbuuid>,
    token: &str,
    service: Option<&Service>,
) -> Result<Option<IapAccount>, TokenError> {
    let foreign = || TokenError::Refused("this account token is not valid here");
    if let Some(account) = ledger::accounts::by_token(conn, token)? {
        if service.is_some_and(|s| s.id != account.service_id) {
            return Err(TokenError::Refused(
                "this account token belongs to another service",
            ));
        }
        if let Some(dbuuid) = dbuuid
            && let Some(known) = tenancy::dbuuid_of(conn, account.database_id)?
            && known != dbuuid.as_str()
        {
            return Err(foreign());
        }
        return Ok(Some(account));
    }
    let (Some(dbuuid), Some(service)) = (dbuuid, service) else {
        return Ok(None);
    };
    // The account and the database it may bring, with their count against the caller's
    // address, in one transaction: refused, none of them is kept.
    conn.transaction(|conn| {
        let database = tenancy::database_for_dbuuid(conn, dbuuid.as_str())?;
        let (account, new) = match ledger::accounts::get_or_create_with_token(
            conn,
            database.id,
            service.id,
            token,
        ) {
            Ok(made) => made,
            Err(LedgerError::TokenRefused) => {
                return Err(TokenError::Refused(
                    "this account token belongs to another database or service",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if new && let Err(until) = throttle::reserve_registration(conn, from, chrono::Utc::now())? {
            return Err(TokenError::Throttled(until));
        }
        Ok(Some(account))
    })
}
