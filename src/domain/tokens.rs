//! An Odoo database's IAP account tokens. A token is an account: what a token names, checked
//! against what a call says of it, and a new token registered with its database (by dbuuid) on
//! first sight. Shared by Odoo's protocol (`odoo/`) and the "Buy credits" link (`credit_link`).

use diesel::{Connection, PgConnection};

use crate::domain::auth::throttle;
use crate::domain::catalog::Service;
use crate::domain::ledger::{self, IapAccount, LedgerError};
use crate::domain::tenancy;

pub use crate::kernel::ids::Dbuuid;

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

/// What `/iap/1/balance` needs of a known token, read in one statement: Odoo asks for it each
/// time a form that spends credits opens, from every database. (Written with diesel's query
/// builder so that each connection prepares it once: planning the join anew each time cost
/// more than running it.)
#[derive(Debug, diesel::Queryable)]
pub struct Glance {
    /// Balance less reserved, as it stands (before any due hold is released).
    pub available: i64,
    pub service_slug: String,
    pub service_active: bool,
    pub dbuuid: Option<String>,
    /// A hold of the account is past its expiry and not yet released.
    pub hold_due: bool,
}

impl Glance {
    /// The credits available, when the call's service and dbuuid agree with the token and no
    /// hold is due: then the answer needs nothing more. Otherwise the caller takes the full
    /// path (`account_for` then `ledger::refresh`), which gives the precise refusal or
    /// releases what is due.
    pub fn settled_available(
        &self,
        service_slug: &str,
        dbuuid: Option<&Dbuuid>,
    ) -> Option<crate::kernel::credits::Credits> {
        let same_database = match (dbuuid, &self.dbuuid) {
            (Some(asked), Some(known)) => asked.as_str() == known,
            _ => true,
        };
        (self.service_active
            && self.service_slug == service_slug
            && same_database
            && !self.hold_due)
            .then(|| crate::kernel::credits::Credits::from_units(self.available))
    }
}

/// The glance at the account `token` names, if it names one.
pub fn glance(conn: &mut PgConnection, token: &str) -> diesel::QueryResult<Option<Glance>> {
    use crate::platform::schema::{databases, holds, iap_accounts, services};
    use diesel::dsl::{exists, now};
    use diesel::prelude::*;
    let hold_due = exists(
        holds::table
            .filter(holds::account_id.eq(iap_accounts::id))
            .filter(crate::domain::ledger::holds::is_active())
            .filter(holds::expires_at.le(now)),
    );
    iap_accounts::table
        .inner_join(services::table)
        .inner_join(databases::table)
        .filter(iap_accounts::token.eq(token))
        .select((
            iap_accounts::balance - iap_accounts::reserved,
            services::slug,
            services::active,
            databases::dbuuid,
            hold_due,
        ))
        .first(conn)
        .optional()
}
