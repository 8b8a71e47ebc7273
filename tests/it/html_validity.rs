//! Every page passes the W3C Nu HTML checker (`vnu.jar`) without an error. The pages are found
//! as a user finds them: from the home page, following every link of the site, signed in as the
//! demo's admin, its user, and the platform operator (and signed out).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::process::Command;

use actix_web::http::StatusCode;

use crate::harness::{Browser, TestApp, scratch_dir};

/// Most pages a crawl visits (the demo's site has fewer).
const MAX_PAGES: usize = 400;

/// The Nu HTML checker: `IAP_VNU_JAR`, else where `.ci/run` installs it (the `vnu-jar` npm
/// package).
fn vnu_jar() -> PathBuf {
    if let Ok(path) = std::env::var("IAP_VNU_JAR") {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let jar =
        PathBuf::from(home).join(".cache/iap-credits/vnu/node_modules/vnu-jar/build/dist/vnu.jar");
    assert!(
        jar.exists(),
        "the W3C HTML checker is missing: `npm install --prefix ~/.cache/iap-credits/vnu vnu-jar` \
         and a Java runtime (.ci/run installs both), or set IAP_VNU_JAR"
    );
    jar
}

/// Whether a link (without its fragment) leads to one of the site's own HTML pages: no other
/// site, static file, download or JSON. The phone test crawls with it too.
pub fn is_site_page(href: &str) -> bool {
    href.starts_with('/')
        && !href.starts_with("//")
        && !href.starts_with("/static/")
        && !href.starts_with("/api/v1/openapi.json")
        && !href.ends_with(".csv")
        && !href.ends_with(".pdf")
        && !href.contains("/download")
}

/// The site's own links of a page.
fn links(body: &str) -> Vec<String> {
    body.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
        .map(|href| href.split('#').next().unwrap_or_default().to_string())
        .filter(|href| is_site_page(href))
        .collect()
}

/// Every HTML page reachable by links from `/` and `starts`, as `browser` sees them.
async fn crawl(browser: &Browser<'_>, starts: &[&str], pages: &mut BTreeMap<String, String>) {
    let mut queue: VecDeque<String> = std::iter::once("/")
        .chain(starts.iter().copied())
        .map(str::to_string)
        .collect();
    let mut seen: BTreeSet<String> = queue.iter().cloned().collect();
    while let Some(path) = queue.pop_front() {
        if pages.len() >= MAX_PAGES {
            break;
        }
        let page = browser.get(&path).await;
        if page.status != StatusCode::OK || !page.header("content-type").starts_with("text/html") {
            continue;
        }
        for link in links(&page.body) {
            if seen.insert(link.clone()) {
                queue.push_back(link);
            }
        }
        pages.entry(path).or_insert(page.body);
    }
}

#[actix_web::test]
async fn every_page_passes_the_w3c_html_checker() {
    let jar = vnu_jar();
    let app = TestApp::new().with_demo();
    let mut pages = BTreeMap::new();
    crawl(&app.browser(), &["/login", "/api/v1/docs"], &mut pages).await;
    let signed_out = pages.len();
    for (email, _) in iap_credits::demo::DEMO_LOGINS {
        let browser = app.browser();
        let signed_in = browser
            .sign_in(email, iap_credits::demo::DEMO_PASSWORD)
            .await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{email}");
        let mut theirs = BTreeMap::new();
        crawl(
            &browser,
            &["/settings", "/iap/accounts", "/admin"],
            &mut theirs,
        )
        .await;
        for (path, body) in theirs {
            pages.entry(format!("{email} {path}")).or_insert(body);
        }
    }
    // What no link leads to: the checkout of an order, and its receipt.
    let admin = app.browser();
    admin
        .sign_in("admin@demo.test", iap_credits::demo::DEMO_PASSWORD)
        .await;
    let list = admin.get("/iap/accounts").await.body;
    let end = list.find("\">SMS</a>").unwrap();
    let start = list[..end].rfind("/iap/accounts/").unwrap();
    let buy = format!("{}/buy", &list[start..end]);
    let page = admin.get(&buy).await.body;
    let form = &page[..page.find("aria-label=\"Buy Starter Pack\"").unwrap()];
    let marker = "name=\"pack_id\" value=\"";
    let at = form.rfind(marker).unwrap() + marker.len();
    let pack = &form[at..at + form[at..].find('"').unwrap()];
    let ordered = admin.submit(&buy, &buy, &[("pack_id", pack)]).await;
    let checkout = ordered.location().to_string();
    pages.insert("checkout".into(), admin.get(&checkout).await.body);
    let card = [
        ("holder", "Ada Lovelace"),
        ("number", "4242 4242 4242 4242"),
        ("expiry", "12/39"),
        ("cvc", "123"),
    ];
    let paid = admin.submit(&checkout, &checkout, &card).await;
    let receipt = if paid.status == StatusCode::SEE_OTHER {
        admin.get(paid.location()).await.body
    } else {
        paid.body
    };
    assert!(receipt.contains("credits are available"), "{receipt}");
    pages.insert("receipt".into(), receipt);

    assert!(
        signed_out >= 3 && pages.len() >= 40,
        "only {} pages found",
        pages.len()
    );

    // One checker run over every page (a JVM start is slow).
    let dir = scratch_dir("vnu");
    let mut files = BTreeMap::new();
    for (n, (page, body)) in pages.iter().enumerate() {
        let file = dir.join(format!("page-{n:04}.html"));
        std::fs::write(&file, body).unwrap();
        files.insert(format!("file:{}", file.display()), page.clone());
    }
    let out = Command::new("java")
        .arg("-jar")
        .arg(&jar)
        .args(["--errors-only", "--format", "json"])
        .args(files.keys().map(|f| f.trim_start_matches("file:")))
        .output()
        .expect("run java (install a Java runtime: .ci/run does)");
    let report: serde_json::Value = serde_json::from_slice(&out.stderr)
        .or_else(|_| serde_json::from_slice(&out.stdout))
        .unwrap_or_else(|e| {
            panic!(
                "the checker's report is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let errors: Vec<String> = report["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "error" || m["subType"] == "fatal")
        .map(|m| {
            let url = m["url"].as_str().unwrap_or_default();
            let page = files
                .iter()
                .find(|(f, _)| url.ends_with(f.trim_start_matches("file:")))
                .map_or(url, |(_, p)| p.as_str());
            format!(
                "{page} (line {}): {} — {}",
                m["lastLine"],
                m["message"].as_str().unwrap_or_default(),
                m["extract"].as_str().unwrap_or_default().replace('\n', " ")
            )
        })
        .collect();
    assert!(
        errors.is_empty(),
        "{} HTML errors on {} pages:\n{}",
        errors.len(),
        pages.len(),
        errors.join("\n")
    );
}
