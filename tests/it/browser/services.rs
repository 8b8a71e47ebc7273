//! Each service used in a browser: SMS, Partner Autocomplete, Lead Generation, Digitization,
//! Snailmail and itsme.

use fantoccini::Locator;

use super::*;
use crate::harness::TestDb;

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
async fn partner_autocomplete_suggests_as_you_type_and_enriches_for_one_credit() {
    use fantoccini::key::Key;
    let db = TestDb::new();
    let target = {
        let mut conn = db.conn();
        iap_credits::services::directory::company(
            &mut conn,
            iap_credits::kernel::ids::CompanyId(4321),
        )
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
