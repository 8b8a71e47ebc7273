//! Builders of what tests start from, so that each test file says only what is special about
//! its story: a customer database with an admin, its accounts (funded or not), its contacts,
//! packs and paid orders, and the platform operator.

use std::sync::atomic::{AtomicU32, Ordering};

use diesel::PgConnection;
use iap_credits::domain::audit::Operator;
use iap_credits::domain::catalog::{self, Pack};
use iap_credits::domain::ledger::verify::verify_ledger;
use iap_credits::domain::ledger::{self, Actor, GrantKind, IapAccount, accounts};
use iap_credits::domain::orders::{self, Order, PaymentResult};
use iap_credits::domain::payments::{Card, MockProvider};
use iap_credits::domain::tenancy::{self, Role, Subscription};
use iap_credits::kernel::credits::Credits;
use iap_credits::kernel::ids::{AccountId, ContactId, DatabaseId, HoldId, UserId};
use iap_credits::services::contacts::{self, ContactInput};

use crate::harness::{Browser, TestApp};

/// The password of every user the fixtures create.
pub const PASSWORD: &str = "long enough";

/// Credits from text, for short tests.
pub fn c(text: &str) -> Credits {
    Credits::parse(text).unwrap()
}

/// A customer database with one administrator.
pub struct Customer {
    pub database_id: DatabaseId,
    pub name: String,
    pub admin_id: UserId,
}

impl Customer {
    /// A database with a name of its own.
    pub fn new(conn: &mut PgConnection, subscription: Subscription) -> Customer {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let name = format!("Customer {}", NEXT.fetch_add(1, Ordering::Relaxed));
        Customer::named(conn, &name, subscription)
    }

    /// A database named `name`, with the admin `admin@<name>.test`.
    pub fn named(conn: &mut PgConnection, name: &str, subscription: Subscription) -> Customer {
        let db = tenancy::create_database(conn, name, subscription).unwrap();
        let email = format!("admin@{}.test", name.to_lowercase().replace(' ', "-"));
        let admin = tenancy::create_user(conn, name, &email, PASSWORD, Role::Admin).unwrap();
        Customer {
            database_id: db.id,
            name: db.name,
            admin_id: admin.id,
        }
    }

    /// Another user of the database; returns its id.
    pub fn user(&self, conn: &mut PgConnection, email: &str, role: Role) -> UserId {
        tenancy::create_user(conn, &self.name, email, PASSWORD, role)
            .unwrap()
            .id
    }

    /// The database's account of `service` (a slug), created on first need.
    pub fn account(&self, conn: &mut PgConnection, service: &str) -> IapAccount {
        let service = catalog::service_by_slug(conn, service).unwrap().unwrap();
        let account = accounts::get_or_create(conn, self.database_id, service.id).unwrap();
        crate::log_audit::secret(&account.token);
        account
    }

    /// The account of `service` with `credits` more on it (an adjustment).
    pub fn funded(&self, conn: &mut PgConnection, service: &str, credits: &str) -> IapAccount {
        let account = self.account(conn, service);
        ledger::grant(
            conn,
            account.id,
            c(credits),
            GrantKind::Adjustment,
            "test funds",
            &Actor::cli(),
        )
        .unwrap();
        reload(conn, account.id)
    }

    /// A contact of the database, typed as in the contact form (it must be valid).
    pub fn contact(&self, conn: &mut PgConnection, input: ContactInput) -> ContactId {
        contacts::create(conn, self.database_id, &input.validate().unwrap())
            .unwrap()
            .id
    }

    /// Buys and pays the pack named `pack` ("Standard Pack") for the account, as its admin.
    pub fn buy(&self, conn: &mut PgConnection, account: &IapAccount, pack: &str) -> Order {
        let pack = pack_named(conn, account, pack);
        let order =
            orders::create_order(conn, self.database_id, account.id, pack.id, self.admin_id)
                .unwrap();
        let card = Card::parse("Ada", "4242424242424242", "12/39", "123").unwrap();
        match orders::pay(
            conn,
            self.database_id,
            order.id,
            &card,
            &MockProvider::default(),
        )
        .unwrap()
        {
            PaymentResult::Paid { order, .. } => order,
            other => panic!("not paid: {other:?}"),
        }
    }
}

/// The SMS account of a new customer, with `credits` on it.
pub fn sms_account(conn: &mut PgConnection, credits: &str) -> IapAccount {
    Customer::new(conn, Subscription::None).funded(conn, "sms", credits)
}

/// The active pack named `name` ("Standard Pack") of the account's service.
pub fn pack_named(conn: &mut PgConnection, account: &IapAccount, name: &str) -> Pack {
    catalog::active_packs(conn, account.service_id)
        .unwrap()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap()
}

/// Spends `credits` of the account at once (a charge).
pub fn spend(conn: &mut PgConnection, account: &IapAccount, credits: &str) {
    ledger::charge(conn, account.id, c(credits), "use", &Actor::cli()).unwrap();
}

/// A browser signed in as a new user `email` (password `PASSWORD`) of a new database `name`.
pub async fn signed_in<'a>(
    app: &'a TestApp,
    name: &str,
    subscription: Subscription,
    email: &str,
    role: Role,
) -> Browser<'a> {
    let mut conn = app.db.conn();
    Customer::named(&mut conn, name, subscription).user(&mut conn, email, role);
    let browser = app.browser();
    browser.sign_in(email, PASSWORD).await;
    browser
}

/// An SMS account of a new customer, holding `credits`.
pub fn funded_account(app: &TestApp, credits: &str) -> IapAccount {
    let mut conn = app.db.conn();
    Customer::new(&mut conn, Subscription::None).funded(&mut conn, "sms", credits)
}

/// (balance, reserved) of the account now.
pub fn balance_of(app: &TestApp, account: &IapAccount) -> (Credits, Credits) {
    let a = reload(&mut app.db.conn(), account.id);
    (a.balance, a.reserved)
}

/// The platform operator, in a database of its own.
pub fn operator(conn: &mut PgConnection) -> Operator {
    let platform = Customer::named(conn, "Platform", Subscription::None);
    let id = platform.user(conn, "ops@platform.test", Role::Platform);
    Operator {
        user_id: id,
        email: "ops@platform.test".into(),
    }
}

/// The account as it is now.
pub fn reload(conn: &mut PgConnection, account_id: AccountId) -> IapAccount {
    let account = accounts::by_id(conn, account_id).unwrap().unwrap();
    crate::log_audit::secret(&account.token);
    account
}

/// Moves a hold's expiry into the past (as if its time ran out), without releasing it.
pub fn expire_hold_now(conn: &mut PgConnection, hold_id: HoldId) {
    use diesel::RunQueryDsl;
    diesel::sql_query("UPDATE holds SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind::<diesel::sql_types::BigInt, _>(hold_id)
        .execute(conn)
        .unwrap();
}

pub fn assert_consistent(conn: &mut PgConnection) {
    let report = verify_ledger(conn).unwrap();
    assert!(report.is_consistent(), "{:?}", report.discrepancies);
}

/// The id of the demo contact `name`, from the Contacts list.
pub async fn contact_id(browser: &Browser<'_>, name: &str) -> ContactId {
    let list = browser.get("/contacts").await.body;
    let end = list.find(&format!("\">{name}</a>")).unwrap();
    let start = list[..end].rfind("/contacts/").unwrap() + "/contacts/".len();
    list[start..end].parse().unwrap()
}

pub async fn sms_balance(app: &TestApp, browser: &Browser<'_>) -> (AccountId, Credits) {
    let list = browser.get("/iap/accounts").await.body;
    let end = list.find("\">SMS</a></th>").unwrap();
    let start = list[..end].rfind("/iap/accounts/").unwrap() + "/iap/accounts/".len();
    let id: AccountId = list[start..end].parse().unwrap();
    (
        id,
        accounts::by_id(&mut app.db.conn(), id)
            .unwrap()
            .unwrap()
            .balance,
    )
}
