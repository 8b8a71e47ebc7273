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
pub(super) struct Processes(Vec<Child>);

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

pub(super) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(super) fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(super) fn chromedriver() -> &'static str {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect(
            "chromedriver is missing: install Debian's chromium and chromium-driver (.ci/run does)",
        )
}

/// The app on its own database with the demo data (without its history: the seed's steps
/// start from a new database), and a browser session.
pub(super) async fn start(db: &TestDb) -> (Processes, Client, String) {
    start_with(db, &[]).await
}

/// The same with more environment for the app (`SMTP_URL`, …).
pub(super) async fn start_with(db: &TestDb, env: &[(&str, String)]) -> (Processes, Client, String) {
    let app_port = free_port();
    let base = format!("http://127.0.0.1:{app_port}");
    let server = Command::new(env!("CARGO_BIN_EXE_iap-credits"))
        .args(["--demo", "--no-demo-history"])
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
pub(super) async fn text_when(client: &Client, css: &str, ready: impl Fn(&str) -> bool) -> String {
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

pub(super) async fn text(client: &Client, css: &str) -> String {
    text_when(client, css, |_| true).await
}

pub(super) async fn heading_is(client: &Client, expected: &str) {
    text_when(client, "main h1", |t| t == expected).await;
}

pub(super) async fn click(client: &Client, css: &str) {
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
pub(super) async fn click_link(client: &Client, text: &str) {
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

pub(super) async fn type_into(client: &Client, css: &str, value: &str) {
    let field = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

pub(super) async fn sign_in_and_open_sms(client: &Client, base: &str) -> String {
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
pub(super) async fn open_buy_credit_tab(client: &Client) -> fantoccini::wd::WindowHandle {
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
pub(super) async fn buy_in_new_tab(client: &Client, pack: &str, card: &str) -> String {
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
pub(super) async fn snapshot(client: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("IAP_SCREENSHOTS_DIR") {
        let png = client.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

pub(super) async fn balance(client: &Client, account_url: &str) -> String {
    client.goto(account_url).await.unwrap();
    text(client, ".balance").await
}

/// Signs in as the demo's user, who lands on View My Services.
pub(super) async fn sign_in_as_user(client: &Client, base: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    type_into(client, "#email", "user@demo.test").await;
    type_into(client, "#password", "demo-password").await;
    click(client, "form.stacked button[type=submit]").await;
    heading_is(client, "IAP Account").await;
}

/// The Account Information page of the signed-in user's `service` (from View My Services).
pub(super) async fn account_information_of(client: &Client, base: &str, service: &str) -> String {
    client.goto(&format!("{base}/iap/accounts")).await.unwrap();
    click_link(client, service).await;
    heading_is(client, "Account Information").await;
    client.current_url().await.unwrap().to_string()
}

mod buying;
mod phone;
mod services;
