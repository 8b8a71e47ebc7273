//! Every page on a phone: nothing wider than the screen, the Menu with every link, and axe's
//! WCAG 2.1 A and AA rules.

use serde_json::json;

use super::*;
use crate::harness::TestDb;

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
