//! End-to-end in a real headless Chromium (Debian's chromium and chromium-driver, driven over
//! WebDriver): the seed's "Manually buy credits" steps with its labels, against the real server.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::harness::TestDb;

/// Kills the processes it holds when the test ends, passed or failed — each with its process
/// group, so that the Chromium chromedriver started (and any session not closed) goes too.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, killpg};
        for child in &mut self.0 {
            let _ = killpg(
                nix::unistd::Pid::from_raw(child.id() as i32),
                Signal::SIGKILL,
            );
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn chromedriver() -> &'static str {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect(
            "chromedriver is missing: install Debian's chromium and chromium-driver (.ci/run does)",
        )
}

/// The app on its own database with the demo data, and a browser session.
async fn start(db: &TestDb) -> (Processes, Client, String) {
    start_with(db, &[]).await
}

/// The same with more environment for the app (`SMTP_URL`, …).
async fn start_with(db: &TestDb, env: &[(&str, String)]) -> (Processes, Client, String) {
    let app_port = free_port();
    let base = format!("http://127.0.0.1:{app_port}");
    let server = Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .args(["--demo"])
        .envs(db.env())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("IAP_BIND", format!("127.0.0.1:{app_port}"))
        .env("IAP_BASE_URL", &base)
        .env("RUST_LOG", "warn")
        // The simulated post delivers a second after it accepts a letter.
        .env("IAP_SIMULATED_POST_DELIVERY_SECONDS", "1")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let driver_port = free_port();
    let driver = Command::new(chromedriver())
        .arg(format!("--port={driver_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let processes = Processes(vec![server, driver]);
    wait_for_port(app_port, "the app");
    wait_for_port(driver_port, "chromedriver");
    let profile = crate::harness::scratch_dir("chromium");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("start a Chromium session");
    (processes, client, base)
}

/// The text of `css` once it satisfies `ready` (pages load after clicks: retry until then).
async fn text_when(client: &Client, css: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if ready(&text) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never became ready; last text: {last:?}");
}

async fn text(client: &Client, css: &str) -> String {
    text_when(client, css, |_| true).await
}

async fn heading_is(client: &Client, expected: &str) {
    text_when(client, "main h1", |t| t == expected).await;
}

async fn click(client: &Client, css: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Follows the link whose text is `text`, once it is there.
async fn click_link(client: &Client, text: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::LinkText(text))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn type_into(client: &Client, css: &str, value: &str) {
    let field = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn sign_in_and_open_sms(client: &Client, base: &str) -> String {
    client.goto(&format!("{base}/login")).await.unwrap();
    type_into(client, "#email", "admin@demo.test").await;
    type_into(client, "#password", "demo-password").await;
    click(client, "form.stacked button[type=submit]").await;
    // Settings → search "IAP" → Contacts / Odoo IAP → View My Services.
    click_link(client, "Settings").await;
    heading_is(client, "Settings").await;
    type_into(client, "#settings-search", "IAP").await;
    assert_eq!(text(client, ".setting h3").await, "Odoo IAP");
    snapshot(client, "1-settings").await;
    click(client, ".setting a.button").await;
    heading_is(client, "IAP Account").await;
    snapshot(client, "2-iap-accounts").await;
    click_link(client, "SMS").await;
    heading_is(client, "Account Information").await;
    snapshot(client, "3-account-information").await;
    client.current_url().await.unwrap().to_string()
}

/// Clicks Buy Credit, which opens a new tab, and switches to it; returns the account's tab.
async fn open_buy_credit_tab(client: &Client) -> fantoccini::wd::WindowHandle {
    let account_tab = client.window().await.unwrap();
    click(client, "a.button[target=_blank]").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let new_tab = loop {
        let windows = client.windows().await.unwrap();
        if let Some(tab) = windows.into_iter().find(|w| *w != account_tab) {
            break tab;
        }
        assert!(Instant::now() < deadline, "Buy Credit opened no new tab");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    client.switch_to_window(new_tab).await.unwrap();
    account_tab
}

/// Buy Credit opens "Buy Credits for SMS" in a new tab; Buy the pack; pay with `card`.
async fn buy_in_new_tab(client: &Client, pack: &str, card: &str) -> String {
    let account_tab = open_buy_credit_tab(client).await;
    heading_is(client, "Buy Credits for SMS").await;
    snapshot(client, "4-buy-credits").await;
    click(client, &format!("button[aria-label='Buy {pack}']")).await;
    heading_is(client, "Checkout").await;
    type_into(client, "#holder", "Ada Lovelace").await;
    type_into(client, "#number", card).await;
    type_into(client, "#expiry", "12/39").await;
    type_into(client, "#cvc", "123").await;
    snapshot(client, "5-checkout").await;
    click(client, "form.stacked button[type=submit]").await;
    let outcome = text_when(client, "main", |t| {
        t.contains("credits are available") || t.contains("declined")
    })
    .await;
    let shot = if outcome.contains("declined") {
        "7-declined"
    } else {
        "6-receipt"
    };
    snapshot(client, shot).await;
    client.close_window().await.unwrap();
    client.switch_to_window(account_tab).await.unwrap();
    outcome
}

/// With IAP_SCREENSHOTS_DIR set, saves what the browser shows as `<name>.png` there, for a
/// person to look at.
async fn snapshot(client: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("IAP_SCREENSHOTS_DIR") {
        let png = client.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

async fn balance(client: &Client, account_url: &str) -> String {
    client.goto(account_url).await.unwrap();
    text(client, ".balance").await
}

#[tokio::test]
async fn manually_buying_the_standard_pack_in_a_browser() {
    let db = TestDb::new();
    let (_processes, client, base) = start(&db).await;
    let account_url = sign_in_and_open_sms(&client, &base).await;
    assert_eq!(
        balance(&client, &account_url).await,
        "10",
        "the trial credits"
    );

    let receipt = buy_in_new_tab(&client, "Standard Pack", "4242 4242 4242 4242").await;
    assert!(receipt.contains("your credits are available"), "{receipt}");
    assert_eq!(
        balance(&client, &account_url).await,
        "110",
        "up by exactly 100"
    );

    let declined = buy_in_new_tab(&client, "Starter Pack", "4000 0000 0000 0002").await;
    assert!(declined.contains("Your card was declined."), "{declined}");
    assert_eq!(
        balance(&client, &account_url).await,
        "110",
        "a declined card changes nothing"
    );
    client.close().await.unwrap();
}

#[tokio::test]
async fn two_sms_accounts_renamed_made_default_and_credits_moved_in_a_browser() {
    let db = TestDb::new();
    let (_processes, client, base) = start(&db).await;
    // A second SMS token of the demo database, as Odoo sends for a second company.
    let (first, second) = {
        let mut conn = db.conn();
        let demo = iap_credits::domain::tenancy::find_database(
            &mut conn,
            iap_credits::demo::DEMO_DATABASE,
        )
        .unwrap()
        .unwrap();
        let sms = iap_credits::domain::catalog::service_by_slug(&mut conn, "sms")
            .unwrap()
            .unwrap();
        let first =
            iap_credits::domain::ledger::accounts::get_or_create(&mut conn, demo.id, sms.id)
                .unwrap();
        let token = format!("{:032x}", rand::random::<u128>());
        let (second, _) = iap_credits::domain::ledger::accounts::get_or_create_with_token(
            &mut conn, demo.id, sms.id, &token,
        )
        .unwrap();
        iap_credits::domain::ledger::grant(
            &mut conn,
            second.id,
            iap_credits::kernel::credits::Credits::whole(10),
            iap_credits::domain::ledger::GrantKind::Adjustment,
            "test money",
            &iap_credits::domain::ledger::Actor::cli(),
        )
        .unwrap();
        (first, second)
    };
    let first_before = {
        let mut conn = db.conn();
        iap_credits::domain::ledger::accounts::by_id(&mut conn, first.id)
            .unwrap()
            .unwrap()
            .balance
    };
    client.goto(&format!("{base}/login")).await.unwrap();
    type_into(&client, "#email", "admin@demo.test").await;
    type_into(&client, "#password", "demo-password").await;
    click(&client, "form.stacked button[type=submit]").await;
    client.goto(&format!("{base}/iap/accounts")).await.unwrap();
    heading_is(&client, "IAP Account").await;
    click_link(
        &client,
        &format!("SMS (account …{})", second.token_ending()),
    )
    .await;
    heading_is(&client, "Account Information").await;

    // Rename it.
    type_into(&client, "#label", "Company B").await;
    click(&client, "form.label button[type=submit]").await;
    text_when(&client, "#this-account", |t| t.contains("Label saved.")).await;
    assert_eq!(text(&client, "#account-label").await, "Company B");
    // Make it the default.
    click(&client, "form.make-default button[type=submit]").await;
    text_when(&client, "#default-status", |t| t.starts_with("Yes")).await;
    // Move 5 credits to the other account.
    type_into(&client, "#move_credits", "5").await;
    click(&client, "form.move button[type=submit]").await;
    let moved = text_when(&client, "form.move", |t| t.contains("Moved")).await;
    assert!(moved.contains("Moved 5 credits"), "{moved}");
    snapshot(&client, "several-accounts").await;
    {
        let mut conn = db.conn();
        let balance = |conn: &mut diesel::PgConnection, id| {
            iap_credits::domain::ledger::accounts::by_id(conn, id)
                .unwrap()
                .unwrap()
                .balance
        };
        assert_eq!(
            balance(&mut conn, second.id),
            iap_credits::kernel::credits::Credits::whole(5)
        );
        assert_eq!(
            balance(&mut conn, first.id).units(),
            first_before.units() + iap_credits::kernel::credits::Credits::whole(5).units()
        );
    }
    // View My Services names it and marks it as the default.
    client.goto(&format!("{base}/iap/accounts")).await.unwrap();
    let list = text(&client, "table.list").await;
    assert!(
        list.contains(&format!(
            "SMS · Company B (account …{}) default",
            second.token_ending()
        )),
        "{list}"
    );
    client.close().await.unwrap();
}

#[tokio::test]
async fn warn_me_reveals_threshold_and_warning_email() {
    let db = TestDb::new();
    let (_processes, client, base) = start(&db).await;
    sign_in_and_open_sms(&client, &base).await;
    let fields = client.find(Locator::Id("alert-fields")).await.unwrap();
    assert!(
        !fields.is_displayed().await.unwrap(),
        "hidden while Warn Me is off"
    );
    click(&client, "#warn_me").await;
    assert!(
        fields.is_displayed().await.unwrap(),
        "ticking Warn Me reveals the fields"
    );
    type_into(&client, "#threshold", "5").await;
    type_into(&client, "#warning_email", "ops@demo.test").await;
    click(&client, "form.alerts button[type=submit]").await;
    assert_eq!(text(&client, "form.alerts .alert.ok").await, "Saved.");
    client.close().await.unwrap();
}

#[tokio::test]
async fn the_sms_dialog_counts_while_typing_and_the_chatter_shows_the_message() {
    let db = TestDb::new();
    let (_processes, client, base) = start(&db).await;
    sign_in_as_user(&client, &base).await;
    client.goto(&format!("{base}/contacts")).await.unwrap();
    click_link(&client, "Lucille Dupont").await;
    heading_is(&client, "Lucille Dupont").await;
    let contact_url = client.current_url().await.unwrap();
    click(&client, "a.sms-link[href$='to=mobile']").await;
    // With JavaScript the dialog opens as a modal over the contact page.
    text_when(&client, "dialog.modal[open] h1", |t| {
        t == "Send SMS Text Message"
    })
    .await;
    assert_eq!(client.current_url().await.unwrap(), contact_url);
    type_into(&client, "#message", "Your order has shipped.").await;
    let counter = text_when(&client, "#sms-count", |t| t.starts_with("23 characters")).await;
    assert_eq!(counter, "23 characters · 1 SMS · GSM-7 · 0.076 credits");
    type_into(&client, "#message", &"€".repeat(81)).await;
    let counter = text_when(&client, "#sms-count", |t| t.starts_with("81 characters")).await;
    assert_eq!(counter, "81 characters · 2 SMS · GSM-7 · 0.152 credits");
    // (ChromeDriver cannot type characters outside the BMP, so no emoji here.)
    type_into(&client, "#message", "Ça coûte 5 €").await;
    let counter = text_when(&client, "#sms-count", |t| t.contains("UCS-2")).await;
    assert_eq!(counter, "12 characters · 1 SMS · UCS-2 · 0.076 credits");
    snapshot(&client, "8-send-sms").await;
    click(&client, "dialog.modal form button[type=submit]").await;
    let chatter = text_when(&client, "#chatter", |t| t.contains("Ça coûte")).await;
    assert!(
        chatter.contains("1 SMS (UCS-2) · 0.076 credits · sent"),
        "{chatter}"
    );
    snapshot(&client, "9-chatter").await;
    client.close().await.unwrap();
}

#[tokio::test]
async fn the_operator_finds_the_demo_purchase_and_its_revenue_on_the_dashboard() {
    let db = TestDb::new();
    let (_processes, client, base) = start(&db).await;
    sign_in_and_open_sms(&client, &base).await;
    let receipt = buy_in_new_tab(&client, "Standard Pack", "4242 4242 4242 4242").await;
    assert!(receipt.contains("your credits are available"), "{receipt}");
    click(&client, "header form button[type=submit]").await; // Sign out
    heading_is(&client, "IAP Catalog").await;
    client.goto(&format!("{base}/login")).await.unwrap();

    type_into(&client, "#email", "platform@demo.test").await;
    type_into(&client, "#password", "demo-password").await;
    click(&client, "form.stacked button[type=submit]").await;
    click_link(&client, "Admin").await;
    heading_is(&client, "Dashboard").await;
    let revenue = text(&client, "#revenue tbody").await;
    assert_eq!(revenue, "EUR 1 95.00 EUR 0.00 EUR 95.00 EUR");
    let per_service = text(&client, "#per-service tbody").await;
    assert!(
        per_service.starts_with("SMS 1 100 95.00 EUR"),
        "{per_service}"
    );
    let chart = client
        .find(Locator::Css("svg.chart[aria-label='Revenue per day']"))
        .await
        .unwrap();
    let size = chart.rectangle().await.unwrap();
    assert!(
        size.2 > 200.0 && size.3 > 50.0,
        "the chart is drawn: {size:?}"
    );
    snapshot(&client, "10-admin-dashboard").await;

    click(&client, ".subnav a[href='/admin/orders']").await;
    heading_is(&client, "Orders").await;
    let orders = text(&client, "#orders tbody").await;
    assert!(
        orders.contains("Demo Company SMS Standard Pack 100 95.00 EUR paid"),
        "{orders}"
    );
    click(&client, "#orders tbody th a").await;
    let title = text_when(&client, "main h1", |t| t.starts_with("Order IAP-")).await;
    assert!(
        text(&client, "#order-ledger").await.contains("purchase"),
        "{title}"
    );
    snapshot(&client, "11-admin-order").await;
    client.close().await.unwrap();
}

/// The available credits of the account of `token`, read in the database.
fn available_of(db: &TestDb, token: &str) -> String {
    let mut conn = db.conn();
    iap_credits::domain::ledger::accounts::by_token(&mut conn, token)
        .unwrap()
        .unwrap()
        .available()
        .to_display()
}

/// Pays the checkout on screen with the approved test card; returns the page's text after.
async fn pay_on_checkout(client: &Client) -> String {
    heading_is(client, "Checkout").await;
    type_into(client, "#holder", "Grace Hopper").await;
    type_into(client, "#number", "4242 4242 4242 4242").await;
    type_into(client, "#expiry", "12/39").await;
    type_into(client, "#cvc", "123").await;
    click(client, "form.stacked button[type=submit]").await;
    text_when(client, "main", |t| t.contains("credits are available")).await
}

#[tokio::test]
async fn odoos_buy_credits_link_plain_and_hashed_in_a_browser() {
    let db = TestDb::new();
    let (_processes, client, base) = start(&db).await;
    // An Odoo database's token, met first by its balance call.
    let dbuuid = "8e2b6c4a-1d2f-11ef-9a3b-0242ac120002";
    let token = format!("{:032x}", rand::random::<u128>());
    let context = iap_credits::odoo::Context {
        base_url: base.clone(),
        sms: std::sync::Arc::new(iap_credits::services::sms::gateway::SimulatedCarrier::default()),
        directory: std::sync::Arc::new(
            iap_credits::services::directory::provider::UnavailableDirectory,
        ),
        outbound: Default::default(),
        client_address: "192.0.2.1".into(),
    };
    let register = json!({"dbuuid": dbuuid, "account_token": token, "service_name": "sms"});
    iap_credits::odoo::iap::balance(&mut db.conn(), &context, register.as_object().unwrap())
        .unwrap();

    // The plain link, as Odoo 18's "Buy credits" button opens it, lacking 120 credits.
    client
        .goto(&format!(
            "{base}/iap/1/credit?dbuuid={dbuuid}&service_name=sms&account_token={token}&credit=120"
        ))
        .await
        .unwrap();
    heading_is(&client, "Buy Credits for SMS").await;
    snapshot(&client, "odoo-1-buy-link").await;
    let chosen = client
        .find(Locator::Css("input[name=pack_id]:checked + label"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(chosen.starts_with("Advanced Pack"), "{chosen}");
    click(&client, "form.stacked button[type=submit]").await;
    let receipt = pay_on_checkout(&client).await;
    assert!(
        receipt.contains("go back to your Odoo database"),
        "{receipt}"
    );
    snapshot(&client, "odoo-2-receipt").await;
    assert_eq!(available_of(&db, &token), "500");

    // The hashed link: the token never travels; the Starter Pack this time.
    let sha1 = iap_credits::domain::ledger::accounts::token_sha1(&token);
    client
        .goto(&format!(
            "{base}/iap/1/credit?dbuuid={dbuuid}&service_name=sms&account_token={sha1}&hashed=1"
        ))
        .await
        .unwrap();
    heading_is(&client, "Buy Credits for SMS").await;
    assert!(text(&client, "main .lead").await.contains("500"));
    click(&client, "label[for^=pack-]").await;
    click(&client, "form.stacked button[type=submit]").await;
    pay_on_checkout(&client).await;
    assert_eq!(available_of(&db, &token), "510");

    // A hashed link that names no account: a clear page, not the packs.
    client
        .goto(&format!(
            "{base}/iap/1/credit?service_name=sms&account_token={}&hashed=1",
            "0".repeat(40)
        ))
        .await
        .unwrap();
    heading_is(&client, "Account not found").await;
    client.close().await.unwrap();
}

/// Signs in as the demo's user, who lands on View My Services.
async fn sign_in_as_user(client: &Client, base: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    type_into(client, "#email", "user@demo.test").await;
    type_into(client, "#password", "demo-password").await;
    click(client, "form.stacked button[type=submit]").await;
    heading_is(client, "IAP Account").await;
}

/// The Account Information page of the signed-in user's `service` (from View My Services).
async fn account_information_of(client: &Client, base: &str, service: &str) -> String {
    client.goto(&format!("{base}/iap/accounts")).await.unwrap();
    click_link(client, service).await;
    heading_is(client, "Account Information").await;
    client.current_url().await.unwrap().to_string()
}

#[tokio::test]
async fn partner_autocomplete_suggests_as_you_type_and_enriches_for_one_credit() {
    use fantoccini::key::Key;
    let db = TestDb::new();
    let target = {
        let mut conn = db.conn();
        iap_credits::services::directory::company(&mut conn, 4321)
            .unwrap()
            .unwrap()
    };
    let (_processes, client, base) = start(&db).await;
    sign_in_as_user(&client, &base).await;
    let account_url = account_information_of(&client, &base, "Partner Autocomplete").await;
    let before: i64 = balance(&client, &account_url).await.parse().unwrap();

    client.goto(&format!("{base}/contacts/new")).await.unwrap();
    heading_is(&client, "New contact").await;
    click(&client, "#is_company").await;
    type_into(&client, "#name", &target.name).await;
    let suggestions = text_when(&client, "#company-suggestions", |t| {
        t.contains(&target.full_name())
    })
    .await;
    let name = client.find(Locator::Css("#name")).await.unwrap();
    assert_eq!(
        name.attr("aria-expanded").await.unwrap().as_deref(),
        Some("true")
    );
    // Down to the company with the keyboard, then Enter.
    let options = client
        .find_all(Locator::Css("#company-suggestions [role=option]"))
        .await
        .unwrap();
    let mut index = None;
    for (i, option) in options.iter().enumerate() {
        let text = option.text().await.unwrap();
        if text.contains(&target.full_name()) && text.contains(&target.city) {
            index = Some(i);
            break;
        }
    }
    let index = index.unwrap_or_else(|| panic!("{} not in {suggestions}", target.full_name()));
    for _ in 0..=index {
        name.send_keys(&char::from(Key::Down).to_string())
            .await
            .unwrap();
    }
    assert_eq!(
        name.attr("aria-activedescendant").await.unwrap(),
        Some(format!("company-option-{index}"))
    );
    snapshot(&client, "10-partner-autocomplete").await;
    name.send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
    let notice = text_when(&client, "#enrich-notice", |t| {
        t.starts_with("Saving enriches")
    })
    .await;
    assert!(notice.contains(&target.full_name()), "{notice}");
    assert_eq!(
        name.prop("value").await.unwrap().as_deref(),
        Some(target.full_name().as_str())
    );
    click(&client, "form.stacked button.primary[type=submit]").await;
    heading_is(&client, &target.full_name()).await;
    let facts = text(&client, "dl.facts").await;
    assert!(facts.contains(&target.domain), "{facts}");
    assert!(facts.contains(&target.city), "{facts}");
    if let Some(vat) = &target.vat {
        assert!(facts.contains(vat), "{facts}");
    }
    let chatter = text(&client, "#chatter").await;
    assert!(
        chatter.contains("Enriched with Partner Autocomplete"),
        "{chatter}"
    );
    snapshot(&client, "11-enriched-contact").await;
    let after: i64 = balance(&client, &account_url).await.parse().unwrap();
    assert_eq!(before - after, 1, "one credit gone");
    client.close().await.unwrap();
}

#[tokio::test]
async fn generating_five_leads_with_two_contacts_shows_the_leads_and_the_exact_cost() {
    let db = TestDb::new();
    let (_processes, client, base) = start(&db).await;
    sign_in_as_user(&client, &base).await;
    let account_url = account_information_of(&client, &base, "Lead Generation").await;
    let before: i64 = balance(&client, &account_url).await.parse().unwrap();

    click_link(&client, "Leads").await;
    heading_is(&client, "Leads").await;
    click(&client, "a.button.primary[href='/leads/generate']").await;
    heading_is(&client, "Generate Leads").await;
    type_into(&client, "#leads", "5").await;
    type_into(&client, "#contacts", "2").await;
    // The maximum, live: 5 × (1 + 2).
    text_when(&client, "#max-cost", |t| t == "15").await;
    type_into(&client, "#contacts", "9").await;
    text_when(&client, "#max-cost", |t| t == "—").await;
    type_into(&client, "#contacts", "2").await;
    text_when(&client, "#max-cost", |t| t == "15").await;
    click(&client, "input[name=country][value=NL]").await;
    snapshot(&client, "12-generate-leads").await;
    click(&client, "#generate button.primary[type=submit]").await;
    let found = text_when(&client, "main .alert", |t| t.starts_with("Found")).await;
    // "Found 5 companies and N contacts for X credits."
    let words: Vec<&str> = found.split_whitespace().collect();
    assert_eq!(words[1], "5", "{found}");
    let contacts: i64 = words[4].parse().unwrap();
    let cost: i64 = words[words.len() - 2].parse().unwrap();
    assert!(contacts <= 10, "{found}");
    assert_eq!(cost, 5 + contacts, "{found}");
    snapshot(&client, "13-lead-request").await;
    let leads = client
        .find_all(Locator::Css("main ul li a[href^='/leads/']"))
        .await
        .unwrap();
    assert_eq!(leads.len(), 5);
    leads[0].click().await.unwrap();
    text_when(&client, "#chatter", |t| {
        t.contains("Generated by Lead Generation")
    })
    .await;
    client.goto(&format!("{base}/leads")).await.unwrap();
    let rows = client
        .find_all(Locator::Css("table.list tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    let after: i64 = balance(&client, &account_url).await.parse().unwrap();
    assert_eq!(before - after, cost, "exactly the cost shown");
    client.close().await.unwrap();
}

#[tokio::test]
async fn uploading_a_bill_and_digitizing_it_shows_its_fields_for_one_credit() {
    let db = TestDb::new();
    let (bill, pdf_path, _dir) = {
        let mut conn = db.conn();
        let bill = crate::sample_bills::sample(&mut conn, 42);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bill-42.pdf");
        std::fs::write(&path, crate::sample_bills::pdf(&bill)).unwrap();
        (bill, path, dir)
    };
    let (_processes, client, base) = start(&db).await;
    sign_in_as_user(&client, &base).await;
    let account_url = account_information_of(&client, &base, "Documents Digitization").await;
    let before: i64 = balance(&client, &account_url).await.parse().unwrap();
    assert!(before >= 1, "the demo's trial credits");

    click_link(&client, "Vendor Bills").await;
    heading_is(&client, "Vendor Bills").await;
    let file = client.find(Locator::Css("#file")).await.unwrap();
    file.send_keys(pdf_path.to_str().unwrap()).await.unwrap();
    click(&client, "#upload button[type=submit]").await;
    heading_is(&client, "bill-42.pdf").await;
    click(&client, "#digitize button[type=submit]").await;
    let vendor = text_when(&client, "main h1", |t| t != "bill-42.pdf").await;
    assert_eq!(vendor, bill.vendor);
    let number = client
        .find(Locator::Css("#invoice_number"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(number.as_deref(), Some(bill.number.as_str()));
    let total = client
        .find(Locator::Css("#total"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        total,
        Some(format!(
            "{}.{:02}",
            bill.total_minor / 100,
            bill.total_minor % 100
        ))
    );
    snapshot(&client, "14-digitized-bill").await;
    let after: i64 = balance(&client, &account_url).await.parse().unwrap();
    assert_eq!(before - after, 1, "one credit gone");
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_letter_sent_by_post_shows_its_price_and_is_delivered_in_the_letters_list() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let pdf_path = dir.path().join("reminder.pdf");
    std::fs::write(&pdf_path, crate::sample_bills::letter_pdf(1, 595, 842)).unwrap();
    let (_processes, client, base) = start(&db).await;
    sign_in_as_user(&client, &base).await;
    let account_url = account_information_of(&client, &base, "Snailmail").await;
    let before: i64 = balance(&client, &account_url).await.parse().unwrap();

    // Lucille gets a postal address in the contact form.
    client.goto(&format!("{base}/contacts")).await.unwrap();
    click_link(&client, "Lucille Dupont").await;
    heading_is(&client, "Lucille Dupont").await;
    click_link(&client, "Edit").await;
    type_into(&client, "#street", "Rue Neuve 1").await;
    type_into(&client, "#postal_code", "1000").await;
    type_into(&client, "#city", "Brussels").await;
    type_into(&client, "#country", "BE").await;
    click(&client, "form.stacked button.primary[type=submit]").await;
    heading_is(&client, "Lucille Dupont").await;

    click_link(&client, "Letters").await;
    heading_is(&client, "Letters").await;
    let file = client.find(Locator::Css("#file")).await.unwrap();
    file.send_keys(pdf_path.to_str().unwrap()).await.unwrap();
    click(&client, "#upload button[type=submit]").await;
    heading_is(&client, "Send by Post").await;
    client
        .find(Locator::Css("#contact"))
        .await
        .unwrap()
        .select_by_label("Lucille Dupont")
        .await
        .unwrap();
    click(&client, "#price-form button[type=submit]").await;
    let price = text(&client, "#quote .price").await;
    assert_eq!(price, "1", "a one-sheet letter in Belgium");
    snapshot(&client, "15-send-by-post").await;
    click(&client, "#send-form button[type=submit]").await;
    heading_is(&client, "Letters").await;
    text_when(&client, "table.list tbody tr td.status", |t| t == "sent").await;
    // The post delivers a second later; the list asks it where the letter is.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.refresh().await.unwrap();
        let status = text(&client, "table.list tbody tr td.status").await;
        if status == "delivered" {
            break;
        }
        assert!(Instant::now() < deadline, "still {status}");
    }
    snapshot(&client, "16-letters").await;
    let after: i64 = balance(&client, &account_url).await.parse().unwrap();
    assert_eq!(before - after, 1, "the postage, once");
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_signer_identified_with_itsme_signs_and_the_certificate_shows_it() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let pdf_path = dir.path().join("lease.pdf");
    std::fs::write(&pdf_path, crate::sample_bills::letter_pdf(1, 595, 842)).unwrap();
    let (_processes, client, base) = start(&db).await;
    sign_in_as_user(&client, &base).await;
    let account_url =
        account_information_of(&client, &base, "Signer identification with itsme").await;
    let before: i64 = balance(&client, &account_url).await.parse().unwrap();
    assert!(before >= 1, "the demo's trial credits");

    click_link(&client, "Sign").await;
    heading_is(&client, "Sign").await;
    type_into(&client, "#title", "Lease agreement").await;
    let file = client.find(Locator::Css("#file")).await.unwrap();
    file.send_keys(pdf_path.to_str().unwrap()).await.unwrap();
    type_into(&client, "#name_0", "Ann Peeters").await;
    type_into(&client, "#email_0", "ann@example.be").await;
    type_into(&client, "#country_0", "BE").await;
    click(&client, "#itsme_0").await;
    click(&client, "#new-request button.primary[type=submit]").await;
    heading_is(&client, "Sent for signature: Lease agreement").await;
    let link = client
        .find(Locator::Css("a.signer-link"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let request_page = client
        .find(Locator::LinkText("The request and its signatures"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();

    // The signer's link.
    client.goto(&link).await.unwrap();
    heading_is(&client, "Lease agreement").await;
    click(&client, "#identify button[type=submit]").await;
    heading_is(&client, "itsme").await;
    snapshot(&client, "17-itsme").await;
    click(&client, "button[value=approve]").await;
    text_when(&client, "main .alert.ok", |t| {
        t.contains("itsme identified you")
    })
    .await;
    type_into(&client, "#name", "Ann Peeters").await;
    click(&client, "#sign button[type=submit]").await;
    text_when(&client, "#signed", |t| t.contains("You signed")).await;

    client.goto(&format!("{base}{request_page}")).await.unwrap();
    let certificate = text(&client, "#certificate").await;
    assert!(
        certificate.contains("Identified with itsme"),
        "{certificate}"
    );
    assert!(certificate.contains("Ann Peeters"), "{certificate}");
    assert!(certificate.contains("Signed at"), "{certificate}");
    assert_eq!(text(&client, "#status").await, "completed");
    snapshot(&client, "18-certificate").await;
    let after: i64 = balance(&client, &account_url).await.parse().unwrap();
    assert_eq!(before - after, 1, "one identification");
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_card_saved_at_checkout_tops_up_automatically_when_the_api_spends_below_the_trigger() {
    let db = TestDb::new();
    let sink = crate::smtp_sink::SmtpSink::start();
    let (_processes, client, base) = start_with(&db, &[("SMTP_URL", sink.url())]).await;
    let account_url = sign_in_and_open_sms(&client, &base).await;
    assert_eq!(
        balance(&client, &account_url).await,
        "10",
        "the trial credits"
    );

    // Buy Credit → Standard Pack → pay, ticking "Save this card for automatic top-ups".
    let account_tab = open_buy_credit_tab(&client).await;
    click(&client, "button[aria-label='Buy Standard Pack']").await;
    heading_is(&client, "Checkout").await;
    type_into(&client, "#holder", "Ada Lovelace").await;
    type_into(&client, "#number", "4242 4242 4242 4242").await;
    type_into(&client, "#expiry", "12/39").await;
    type_into(&client, "#cvc", "123").await;
    click(&client, "#save_card").await;
    click(&client, "form.stacked button[type=submit]").await;
    let receipt = text_when(&client, "main", |t| t.contains("credits are available")).await;
    assert!(
        receipt.contains("The card is saved for automatic top-ups"),
        "{receipt}"
    );
    snapshot(&client, "topup-1-card-saved").await;
    client.close_window().await.unwrap();
    client.switch_to_window(account_tab).await.unwrap();
    assert_eq!(balance(&client, &account_url).await, "110");

    // Top up automatically: below 50, buy the Standard Pack, at most 3 a month, with the card.
    let below = client.find(Locator::Css("#topup_below")).await.unwrap();
    below.clear().await.unwrap();
    below.send_keys("50").await.unwrap();
    client
        .find(Locator::Css("#topup_pack"))
        .await
        .unwrap()
        .select_by_label("Standard Pack — 100 credits for 95.00 EUR")
        .await
        .unwrap();
    click(&client, "#topup_enabled").await;
    click(&client, "form.topup button[type=submit]").await;
    let status = text_when(&client, "#topup-status", |t| t.contains("On:")).await;
    assert!(
        status.contains("when available credits fall below 50, buy Standard Pack (100 credits, 95.00 EUR) with the Visa ending 4242"),
        "{status}"
    );
    client
        .execute("document.getElementById('topup').scrollIntoView()", vec![])
        .await
        .unwrap();
    snapshot(&client, "topup-2-on").await;

    // The account's token, as the admin reveals it, spends 70 through the API: 110 → 40.
    let token = client
        .execute(
            "return document.querySelector('details.token > code').textContent",
            vec![],
        )
        .await
        .unwrap();
    let token = token.as_str().unwrap().to_string();
    let charged = client
        .execute_async(
            "const [token, done] = arguments;
             fetch('/api/v1/charges', {method: 'POST', headers: {'Authorization': 'Bearer ' + token,
               'Content-Type': 'application/json', 'Idempotency-Key': 'browser-topup-1'},
               body: JSON.stringify({credits: '70', description: 'campaign'})})
               .then(r => r.json().then(b => done([r.status, b.balance])));",
            vec![json!(token)],
        )
        .await
        .unwrap();
    assert_eq!(charged, json!([201, "40.0000"]));

    // The worker pays the top-up with the saved card: 40 + 100.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = balance(&client, &account_url).await;
        if shown == "140" {
            break;
        }
        assert!(Instant::now() < deadline, "no top-up credited: {shown}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let topups = text(&client, "table.topups").await;
    assert!(
        topups.contains("Standard Pack") && topups.contains("paid"),
        "{topups}"
    );
    assert!(text(&client, "#topup-status").await.contains("On:"));
    // The forecast sentence and the usage chart are on the page.
    let forecast = text(&client, "#forecast").await;
    // Today's use only: under 7 days of history.
    assert!(
        forecast.starts_with("Not enough history yet to say how long these credits last."),
        "{forecast}"
    );
    assert!(
        client.find(Locator::Css("#usage svg")).await.is_ok(),
        "the usage chart"
    );
    client
        .execute("document.getElementById('topup').scrollIntoView()", vec![])
        .await
        .unwrap();
    snapshot(&client, "topup-3-credited").await;

    // One receipt for the top-up reaches the SMTP server (the first is the checkout's).
    let deadline = Instant::now() + Duration::from_secs(30);
    let receipts = loop {
        let receipts: Vec<_> = sink
            .received()
            .into_iter()
            .filter(|m| m.subject.starts_with("Receipt for your order"))
            .collect();
        if receipts.len() >= 2 || Instant::now() > deadline {
            break receipts;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    let topup_receipt = &receipts[1];
    assert_eq!(topup_receipt.rcpt_tos, ["admin@demo.test"]);
    assert!(
        topup_receipt.subject.contains("SMS Standard Pack"),
        "{}",
        topup_receipt.subject
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all_receipts = sink
        .received()
        .into_iter()
        .filter(|m| m.subject.starts_with("Receipt for your order"))
        .count();
    assert_eq!(all_receipts, 2, "one receipt a paid order, no more");
}

/// What a page looks like on a phone: how wide the page is against the screen, and which of
/// the Menu's links (once it is opened) are not fully on screen.
const PHONE_CHECK: &str = r#"
    const width = window.innerWidth;
    const summary = document.querySelector('.nav-narrow summary');
    const summaryShown = !!summary && summary.getBoundingClientRect().width > 0;
    const details = document.querySelector('.nav-narrow details');
    if (details) { details.open = true; }
    const hidden = Array.from(document.querySelectorAll('.nav-narrow nav a, .nav-narrow nav button'))
        .filter(el => {
            const r = el.getBoundingClientRect();
            const style = getComputedStyle(el);
            return r.width === 0 || r.height < 24 || r.left < 0 || r.right > width
                || style.visibility === 'hidden' || style.color === style.backgroundColor;
        })
        .map(el => el.textContent.trim());
    // Controls a finger must hit: at least 44 px high.
    const small = Array.from(document.querySelectorAll(
            'main button, main select, main textarea, main .button, '
            + 'main input:not([type=hidden]):not([type=checkbox]):not([type=radio])'))
        .filter(el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height < 43.5; })
        .slice(0, 3)
        .map(el => el.outerHTML.slice(0, 80));
    const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'));
    // What sticks out: the innermost elements past the screen's right edge.
    const past = el => el.getBoundingClientRect().right > width + 1;
    const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
        + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
    const culprits = Array.from(document.querySelectorAll('main *, header *'))
        .filter(el => past(el) && !Array.from(el.children).some(past)
            && !el.closest('.table-scroll, pre'))
        .slice(0, 3)
        .map(el => name(el.parentElement) + ' > ' + name(el));
    if (details) { details.open = false; }
    return {
        width: width,
        scrollWidth: document.documentElement.scrollWidth,
        summaryShown: summaryShown,
        wideNavShown: (document.querySelector('.nav-wide') || {offsetWidth: 0}).offsetWidth > 0,
        hidden: hidden,
        links: links,
        culprits: culprits,
        small: small,
    };
"#;

/// A page's kind: its path with every number replaced (one `/contacts/N/edit` is enough).
fn page_kind(path: &str) -> String {
    let mut kind = String::new();
    let mut in_number = false;
    for c in path.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                kind.push('N');
            }
            in_number = true;
        } else {
            kind.push(c);
            in_number = false;
        }
    }
    kind
}

/// Visits every kind of page reachable by links from `starts` at the current window size;
/// returns the problems found (a page wider than the screen, no Menu, a header link not on
/// screen) and how many pages were visited.
/// axe-core, the accessibility checker: `IAP_AXE_JS`, else where `.ci/run` installs it (the
/// `axe-core` npm package).
fn axe_source() -> String {
    let path = std::env::var("IAP_AXE_JS").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        format!("{home}/.cache/iap-credits/axe/node_modules/axe-core/axe.min.js")
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing at {path} ({e}): `npm install --prefix \
             ~/.cache/iap-credits/axe axe-core@4` (.ci/run does), or set IAP_AXE_JS"
        )
    })
}

/// The WCAG 2.1 A and AA rules axe finds broken on the current page, with how many elements.
async fn axe_violations(client: &Client, axe: &str) -> Vec<String> {
    client.execute(axe, vec![]).await.unwrap();
    let found = client
        .execute(
            "return axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})
                 .then(r => r.violations.map(v => v.id + ' (' + v.nodes.length + ')'));",
            vec![],
        )
        .await
        .unwrap();
    found
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

async fn check_phone_pages(
    client: &Client,
    base: &str,
    who: &str,
    starts: &[&str],
    axe: Option<&str>,
) -> (Vec<String>, usize) {
    let mut queue: std::collections::VecDeque<String> =
        starts.iter().map(|s| s.to_string()).collect();
    let mut kinds: std::collections::BTreeSet<String> =
        starts.iter().map(|s| page_kind(s)).collect();
    let (mut problems, mut visited) = (Vec::new(), 0);
    while let Some(path) = queue.pop_front() {
        client.goto(&format!("{base}{path}")).await.unwrap();
        let seen = client.execute(PHONE_CHECK, vec![]).await.unwrap();
        visited += 1;
        if let Some(axe) = axe {
            let broken = axe_violations(client, axe).await;
            if !broken.is_empty() {
                problems.push(format!("{who} {path}: axe: {}", broken.join(", ")));
            }
        }
        let (width, scroll) = (
            seen["width"].as_i64().unwrap(),
            seen["scrollWidth"].as_i64().unwrap(),
        );
        if scroll > width {
            problems.push(format!(
                "{who} {path}: {scroll} px wide on a {width} px screen ({})",
                seen["culprits"]
            ));
        }
        if seen["summaryShown"] != true || seen["wideNavShown"] != false {
            problems.push(format!(
                "{who} {path}: no Menu button, or the wide header shows"
            ));
        }
        if let Some(small) = seen["small"].as_array().filter(|s| !s.is_empty()) {
            problems.push(format!("{who} {path}: controls under 44 px: {small:?}"));
        }
        if let Some(hidden) = seen["hidden"].as_array().filter(|h| !h.is_empty()) {
            problems.push(format!(
                "{who} {path}: header links not on screen: {hidden:?}"
            ));
        }
        if visited <= 3 {
            snapshot(
                client,
                &format!("phone-{}-{visited}", who.replace(['@', '.'], "-")),
            )
            .await;
        }
        for link in seen["links"].as_array().unwrap() {
            let link = link.as_str().unwrap_or_default();
            let link = link.split('#').next().unwrap_or_default();
            let link = link.split('?').next().unwrap_or_default();
            if crate::html_validity::is_site_page(link) && kinds.insert(page_kind(link)) {
                queue.push_back(link.to_string());
            }
        }
    }
    (problems, visited)
}

#[tokio::test]
async fn every_page_fits_a_phone_and_its_menu_shows_every_link() {
    let db = TestDb::new();
    let (_processes, client, base) = start(&db).await;
    let axe = axe_source();
    let (mut problems, mut visited) = (Vec::new(), 0);
    // The issue's phone, with axe's WCAG 2.1 AA rules on every page; then the narrowest screen
    // a page must fit.
    for (width, height, axe) in [(390, 844, Some(axe.as_str())), (360, 800, None)] {
        client.set_window_size(width, height).await.unwrap();
        client.goto(&format!("{base}/")).await.unwrap();
        let inner = client
            .execute("return window.innerWidth", vec![])
            .await
            .unwrap();
        assert!(
            inner.as_i64().unwrap() <= i64::from(width),
            "the window is {inner} px wide"
        );
        let starts = ["/", "/login", "/api/v1/docs"];
        let (found, pages) = check_phone_pages(&client, &base, "visitor", &starts, axe).await;
        problems.extend(found);
        visited += pages;
        for (email, _) in iap_credits::demo::DEMO_LOGINS {
            client.goto(&format!("{base}/login")).await.unwrap();
            type_into(&client, "#email", email).await;
            type_into(&client, "#password", "demo-password").await;
            click(&client, "form.stacked button[type=submit]").await;
            text_when(&client, "main h1", |t| t != "Sign in").await;
            let starts = ["/", "/settings", "/iap/accounts", "/admin", "/orders"];
            let (found, pages) = check_phone_pages(&client, &base, email, &starts, axe).await;
            problems.extend(found);
            visited += pages;
            // Sign out through the Menu, as a phone's user does.
            click(&client, ".nav-narrow summary").await;
            snapshot(
                &client,
                &format!("phone-menu-{}-{width}", email.replace(['@', '.'], "-")),
            )
            .await;
            click(&client, ".nav-narrow .who button[type=submit]").await;
            // Signed out once the page offers to sign in again.
            let deadline = Instant::now() + Duration::from_secs(10);
            while client
                .execute(
                    "return !document.querySelector('a[href=\"/login\"]')",
                    vec![],
                )
                .await
                .unwrap()
                == json!(true)
            {
                assert!(Instant::now() < deadline, "{email} was not signed out");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // What is not behind a link: the Send SMS dialog, the checkout and its receipt.
    client.goto(&format!("{base}/login")).await.unwrap();
    type_into(&client, "#email", "admin@demo.test").await;
    type_into(&client, "#password", "demo-password").await;
    click(&client, "form.stacked button[type=submit]").await;
    text_when(&client, "main h1", |t| t != "Sign in").await;
    client.goto(&format!("{base}/contacts")).await.unwrap();
    click_link(&client, "Lucille Dupont").await;
    click(&client, "a.sms-link[href$='to=mobile']").await;
    text_when(&client, "dialog.modal[open] h1", |t| {
        t == "Send SMS Text Message"
    })
    .await;
    let dialog = client
        .execute(
            "const r = document.querySelector('dialog.modal[open]').getBoundingClientRect();
             return [r.left, r.right, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let (left, right, width) = (
        dialog[0].as_f64().unwrap(),
        dialog[1].as_f64().unwrap(),
        dialog[2].as_f64().unwrap(),
    );
    if left < 0.0 || right > width {
        problems.push(format!(
            "the Send SMS dialog spans {left}..{right} px on a {width} px screen"
        ));
    }
    snapshot(&client, "phone-send-sms").await;
    let account = account_information_of(&client, &base, "SMS").await;
    client.goto(&format!("{account}/buy")).await.unwrap();
    click(&client, "button[aria-label='Buy Starter Pack']").await;
    heading_is(&client, "Checkout").await;
    let checkout = client.execute(PHONE_CHECK, vec![]).await.unwrap();
    snapshot(&client, "phone-checkout").await;
    type_into(&client, "#holder", "Ada Lovelace").await;
    type_into(&client, "#number", "4242 4242 4242 4242").await;
    type_into(&client, "#expiry", "12/39").await;
    type_into(&client, "#cvc", "123").await;
    click(&client, "form.stacked button[type=submit]").await;
    text_when(&client, "main", |t| t.contains("credits are available")).await;
    let receipt = client.execute(PHONE_CHECK, vec![]).await.unwrap();
    snapshot(&client, "phone-receipt").await;
    for (page, seen) in [("checkout", checkout), ("receipt", receipt)] {
        let (width, scroll) = (
            seen["width"].as_i64().unwrap(),
            seen["scrollWidth"].as_i64().unwrap(),
        );
        if scroll > width {
            problems.push(format!(
                "the {page}: {scroll} px wide on a {width} px screen"
            ));
        }
    }

    assert!(visited >= 120, "only {visited} pages visited");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
