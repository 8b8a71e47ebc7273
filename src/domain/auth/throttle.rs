//! Sign-in throttling (and the same counts for card attempts at checkout and for links' lookups),
//! kept in the database so that every instance shares it (owner of `sign_in_throttle`). Two
//! keys count each sign-in attempt: the client's address and the account.
//!
//! - An **address** gets `ADDRESS_FAILURES` attempts in a window; then it is locked out, for
//!   a minute the first time and twice as long each time after (at most an hour).
//! - An **account** gets `ACCOUNT_FAILURES` attempts in a window from any number of addresses;
//!   then it is locked for one short minute only, so that a stranger who knows an email
//!   cannot keep its owner out for long.
//!
//! An attempt is counted *before* the password is checked, by one UPDATE on the key's row
//! (which queues concurrent attempts on the same key), so parallel guesses get exactly as many
//! password checks as the limits allow. A success forgives the account's count, and only its
//! own attempt on the address (or an attacker could reset it with an account of their own).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::kernel::ids::AccountId;
use crate::platform::schema::sign_in_throttle;

pub const ADDRESS_FAILURES: i32 = 5;
pub const ACCOUNT_FAILURES: i32 = 10;
/// Counts start over after this long without reaching their limit.
pub const WINDOW_MINUTES: i64 = 15;
const FIRST_ADDRESS_LOCKOUT_SECONDS: i64 = 60;
const MAX_ADDRESS_LOCKOUT_SECONDS: i64 = 3600;
const ACCOUNT_LOCKOUT_SECONDS: i64 = 60;

/// The key of a client address.
pub fn address_key(address: &str) -> String {
    format!("address:{}", address.chars().take(100).collect::<String>())
}

/// The key of an account (a normalized email).
pub fn account_key(email: &str) -> String {
    format!("account:{email}")
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sign_in_throttle, check_for_backend(diesel::pg::Pg))]
struct Count {
    failures: i32,
    window_start: DateTime<Utc>,
    lockouts: i32,
    locked_until: Option<DateTime<Utc>>,
}

/// How long a key is locked out the `lockouts + 1`-th time.
type Lockout = fn(i32) -> Duration;

fn address_lockout(lockouts: i32) -> Duration {
    let doublings = u32::try_from(lockouts.clamp(0, 12)).unwrap_or(0);
    Duration::seconds((FIRST_ADDRESS_LOCKOUT_SECONDS << doublings).min(MAX_ADDRESS_LOCKOUT_SECONDS))
}

fn account_lockout(_lockouts: i32) -> Duration {
    Duration::seconds(ACCOUNT_LOCKOUT_SECONDS)
}

/// Counts one attempt on `key` (its row locked for the rest of the transaction): `Ok(())` when
/// it may go on to the password check, or the end of the lockout that refuses it. The attempt
/// that reaches the limit is still checked; it locks the key for the ones after it.
fn count(
    conn: &mut PgConnection,
    key: &str,
    limit: i32,
    lockout: Lockout,
    now: DateTime<Utc>,
) -> QueryResult<Result<(), DateTime<Utc>>> {
    diesel::insert_into(sign_in_throttle::table)
        .values((
            sign_in_throttle::key.eq(key),
            sign_in_throttle::window_start.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    let row: Count = sign_in_throttle::table
        .find(key)
        .select(Count::as_select())
        .for_update()
        .first(conn)?;
    if let Some(until) = row.locked_until.filter(|until| *until > now) {
        return Ok(Err(until));
    }
    let window_over = row.window_start <= now - Duration::minutes(WINDOW_MINUTES);
    let (failures, window_start) = if window_over {
        (1, now)
    } else {
        (row.failures + 1, row.window_start)
    };
    let (failures, lockouts, locked_until) = if failures >= limit {
        (0, row.lockouts + 1, Some(now + lockout(row.lockouts)))
    } else {
        (failures, row.lockouts, None)
    };
    diesel::update(sign_in_throttle::table.find(key))
        .set((
            sign_in_throttle::failures.eq(failures),
            sign_in_throttle::window_start.eq(window_start),
            sign_in_throttle::lockouts.eq(lockouts),
            sign_in_throttle::locked_until.eq(locked_until),
        ))
        .execute(conn)?;
    Ok(Ok(()))
}

/// Why the reservation's transaction ended without keeping its counts.
enum Refused {
    Until(DateTime<Utc>),
    Database(diesel::result::Error),
}

impl From<diesel::result::Error> for Refused {
    fn from(e: diesel::result::Error) -> Self {
        Refused::Database(e)
    }
}

/// Counts one attempt on each key (its limit, its lockout), all or none, in one transaction and
/// always in the order given (so that two attempts never wait on each other in a circle):
/// `Err(until)` when any key is locked out, and then nothing is counted.
fn count_all(
    conn: &mut PgConnection,
    keys: &[(String, i32, Lockout)],
    now: DateTime<Utc>,
) -> QueryResult<Result<(), DateTime<Utc>>> {
    let counted = conn.transaction(|conn| {
        for (key, limit, lockout) in keys {
            count(conn, key, *limit, *lockout, now)?.map_err(Refused::Until)?;
        }
        Ok::<_, Refused>(())
    });
    match counted {
        Ok(()) => Ok(Ok(())),
        Err(Refused::Until(until)) => Ok(Err(until)),
        Err(Refused::Database(e)) => Err(e),
    }
}

/// Counts an attempt from `address` on the account `email`, both or neither (the address row
/// first): `Err(until)` when either is locked out.
pub fn reserve_attempt(
    conn: &mut PgConnection,
    address: &str,
    email: &str,
    now: DateTime<Utc>,
) -> QueryResult<Result<(), DateTime<Utc>>> {
    let keys = [
        (
            address_key(address),
            ADDRESS_FAILURES,
            address_lockout as Lockout,
        ),
        (
            account_key(email),
            ACCOUNT_FAILURES,
            account_lockout as Lockout,
        ),
    ];
    count_all(conn, &keys, now)
}

/// The right password: the account's count starts over, and the address takes back this one
/// attempt (unless it locked the address: a success never lifts a lockout, or an attacker
/// could lift it with an account of their own).
pub fn forgive(conn: &mut PgConnection, address: &str, email: &str) -> QueryResult<()> {
    diesel::update(sign_in_throttle::table.find(account_key(email)))
        .set(sign_in_throttle::failures.eq(0))
        .execute(conn)?;
    give_back(conn, &address_key(address))
}

/// Takes one counted attempt back from `key`, unless it is locked out (a success never lifts
/// a lockout).
fn give_back(conn: &mut PgConnection, key: &str) -> QueryResult<()> {
    diesel::update(
        sign_in_throttle::table
            .find(key)
            .filter(sign_in_throttle::locked_until.is_null())
            .filter(sign_in_throttle::failures.gt(0)),
    )
    .set(sign_in_throttle::failures.eq(sign_in_throttle::failures - 1))
    .execute(conn)?;
    Ok(())
}

/// Card attempts at checkout that an address may make in a window, that a browser session may
/// make, and that the buyers of one IAP account may make together (every session and buy link
/// paying for it): then locked out on the sign-in curve (a minute, doubling up to an hour). An
/// approved payment gives back its own attempt. (An order itself closes after its third
/// decline: `orders::payment::MAX_DECLINES`.)
pub const CHECKOUT_ATTEMPTS: i32 = 10;

/// Who a card attempt at checkout is counted against.
#[derive(Debug, Clone, Copy)]
pub struct CheckoutAttempt<'a> {
    pub address: &'a str,
    /// A random key kept in the browser's session.
    pub session: &'a str,
    pub account_id: AccountId,
}

impl CheckoutAttempt<'_> {
    fn keys(&self) -> [String; 3] {
        let bounded = |text: &str| text.chars().take(100).collect::<String>();
        [
            format!("checkout-address:{}", bounded(self.address)),
            format!("checkout-session:{}", bounded(self.session)),
            format!("checkout-account:{}", self.account_id),
        ]
    }
}

/// Counts a card attempt at checkout against its address, session and account, all or none,
/// before the card is sent to the provider: `Err(until)` when any is locked out.
pub fn reserve_checkout(
    conn: &mut PgConnection,
    attempt: &CheckoutAttempt<'_>,
    now: DateTime<Utc>,
) -> QueryResult<Result<(), DateTime<Utc>>> {
    let keys = attempt
        .keys()
        .map(|key| (key, CHECKOUT_ATTEMPTS, address_lockout as Lockout));
    count_all(conn, &keys, now)
}

/// An approved payment: its attempt is given back (a lockout is never lifted by one).
pub fn forgive_checkout(conn: &mut PgConnection, attempt: &CheckoutAttempt<'_>) -> QueryResult<()> {
    for key in attempt.keys() {
        give_back(conn, &key)?;
    }
    Ok(())
}

/// New IAP accounts (and the databases they bring) that one address may register through
/// Odoo's protocol in a window — an Odoo server hosting many databases registers each once —
/// then locked out on the sign-in curve.
pub const REGISTRATIONS: i32 = 30;

fn registration_key(address: &str) -> String {
    format!("register:{}", address.chars().take(100).collect::<String>())
}

/// Counts one registration of a new token from `address`: `Err(until)` when it is locked out.
pub fn reserve_registration(
    conn: &mut PgConnection,
    address: &str,
    now: DateTime<Utc>,
) -> QueryResult<Result<(), DateTime<Utc>>> {
    let keys = [(
        registration_key(address),
        REGISTRATIONS,
        address_lockout as Lockout,
    )];
    count_all(conn, &keys, now)
}

/// Failed lookups of a credential carried in a link (Odoo's hashed "Buy credits" link) that an
/// address may make in a window before it is locked out like a sign-in address.
pub const LOOKUP_FAILURES: i32 = 10;

fn lookup_key(address: &str) -> String {
    format!("lookup:{}", address.chars().take(100).collect::<String>())
}

/// When the address's lookups are locked out, until when.
pub fn lookup_locked(
    conn: &mut PgConnection,
    address: &str,
    now: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    let until: Option<Option<DateTime<Utc>>> = sign_in_throttle::table
        .find(lookup_key(address))
        .select(sign_in_throttle::locked_until)
        .first(conn)
        .optional()?;
    Ok(until.flatten().filter(|until| *until > now))
}

/// Counts one failed lookup from `address`.
pub fn count_failed_lookup(
    conn: &mut PgConnection,
    address: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        count(
            conn,
            &lookup_key(address),
            LOOKUP_FAILURES,
            address_lockout,
            now,
        )
        .map(drop)
    })
}

/// Forgets keys quiet for a day and not locked; returns how many.
pub fn purge(conn: &mut PgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
    let day_ago = now - Duration::days(1);
    diesel::delete(
        sign_in_throttle::table
            .filter(sign_in_throttle::window_start.lt(day_ago))
            .filter(
                sign_in_throttle::locked_until
                    .is_null()
                    .or(sign_in_throttle::locked_until.lt(now)),
            ),
    )
    .execute(conn)
}
