//! Sessions kept server-side: signing out ends the session for every copy of its cookie, and
//! so do "sign out everywhere", idleness and the absolute lifetime.

use actix_web::http::StatusCode;
use chrono::{Duration, Utc};
use iap_credits::domain::auth::sessions::{self, ABSOLUTE_LIFETIME, IDLE_TIMEOUT};
use iap_credits::domain::tenancy::{Role, Subscription};

use crate::fixtures::Customer;
use crate::harness::{TestApp, TestDb};

#[actix_web::test]
async fn a_copied_cookie_stops_working_when_its_session_signs_out() {
    let app = TestApp::new().with_demo();
    let browser = app.browser();
    browser.sign_in("admin@demo.test", "demo-password").await;
    let thief = app.browser();
    thief.copy_cookies_of(&browser);
    assert_eq!(thief.get("/iap/accounts").await.status, StatusCode::OK);
    let out = browser.submit("/iap/accounts", "/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let page = thief.get("/iap/accounts").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/login"));
}

#[test]
fn sessions_end_when_idle_too_old_or_ended_everywhere() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let user = customer.user(&mut conn, "me@example.test", Role::User);
    let now = Utc::now();
    let laptop = sessions::start(&mut conn, user, now).unwrap();
    let phone = sessions::start(&mut conn, user, now).unwrap();
    assert_eq!(
        sessions::user_of(&mut conn, &laptop, now).unwrap(),
        Some(user)
    );
    // Used every few hours, it still ends at the absolute lifetime.
    let mut when = now;
    while when + Duration::hours(4) < now + ABSOLUTE_LIFETIME {
        when += Duration::hours(4);
        assert_eq!(
            sessions::user_of(&mut conn, &laptop, when).unwrap(),
            Some(user)
        );
    }
    let too_old = now + ABSOLUTE_LIFETIME + Duration::minutes(1);
    assert_eq!(
        sessions::user_of(&mut conn, &laptop, too_old).unwrap(),
        None
    );
    // Idle longer than the timeout: ended.
    let idle = now + IDLE_TIMEOUT + Duration::minutes(1);
    assert_eq!(sessions::user_of(&mut conn, &phone, idle).unwrap(), None);
    // Sign out everywhere ends every live session of the user.
    let a = sessions::start(&mut conn, user, now).unwrap();
    let b = sessions::start(&mut conn, user, now).unwrap();
    assert_eq!(sessions::end_all_of(&mut conn, user, now).unwrap(), 2);
    assert_eq!(sessions::user_of(&mut conn, &a, now).unwrap(), None);
    assert_eq!(sessions::user_of(&mut conn, &b, now).unwrap(), None);
    assert_eq!(
        sessions::user_of(&mut conn, "not-a-session", now).unwrap(),
        None
    );
}
