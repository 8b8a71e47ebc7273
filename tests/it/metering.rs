//! The common paid-service steps: money and records are committed before the provider is
//! called, a crash at any step is finished by the worker exactly once, and a job given up
//! releases what it did not use.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use iap_credits::domain::ledger::{Actor, holds};
use iap_credits::domain::metering::{
    self, Job, JobStatus, MAX_ATTEMPTS, PaidService, PerformError, Request, Services,
};
use iap_credits::domain::tenancy::Subscription;
use iap_credits::kernel::credits::Credits;
use iap_credits::kernel::ids::ContactId;
use iap_credits::services::contacts::ContactInput;
use iap_credits::services::sms::gateway::{Handoff, SimulatedCarrier, SmsGateway};
use iap_credits::services::sms::messages::{self, SmsStatus};
use iap_credits::services::sms::sending::{self, NumberField, SendError, SmsWorker};

use crate::fixtures::{Customer, assert_consistent, c, reload};
use crate::harness::TestDb;

/// A carrier whose process dies (a panic) while handing a message over: before the real
/// carrier saw it, or just after it accepted it.
struct CrashingCarrier {
    real: Arc<SimulatedCarrier>,
    after_accepting: bool,
}

impl SmsGateway for CrashingCarrier {
    fn submit(&self, recipient: &str, body: &str, key: &str) -> Handoff {
        if self.after_accepting {
            let _ = self.real.submit(recipient, body, key);
        }
        panic!("the process died while handing the SMS over");
    }

    fn report(
        &self,
        recipient: &str,
        reference: &str,
    ) -> Option<iap_credits::services::sms::gateway::DeliveryReport> {
        self.real.report(recipient, reference)
    }
}

fn contact(conn: &mut PgConnection, customer: &Customer) -> ContactId {
    customer.contact(
        conn,
        ContactInput {
            name: "Lucille".into(),
            mobile: "+33 6 12 34 56 78".into(),
            ..ContactInput::default()
        },
    )
}

/// After the lease of a crashed worker has run out.
fn later() -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(metering::LEASE + Duration::from_secs(60)).unwrap()
}

fn crash_then_recover(after_accepting: bool) {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let account = customer.funded(&mut conn, "sms", "1");
    let to = contact(&mut conn, &customer);
    let real = Arc::new(SimulatedCarrier::default());
    let crashing = CrashingCarrier {
        real: real.clone(),
        after_accepting,
    };
    let crashed = catch_unwind(AssertUnwindSafe(|| {
        sending::send_to_contact(
            &mut conn,
            &crashing,
            customer.database_id,
            customer.admin_id,
            to,
            NumberField::Mobile,
            "Your order has shipped.",
        )
    }));
    assert!(crashed.is_err(), "the hand-off crashed");
    // Before the carrier was called, the message, its job and its hold were committed.
    let chatter = messages::chatter(&mut conn, customer.database_id, to).unwrap();
    assert_eq!(chatter.len(), 1);
    assert_eq!(chatter[0].status, SmsStatus::Queued);
    let held = reload(&mut conn, account.id);
    assert_eq!((held.balance, held.reserved), (c("1"), c("0.076")));
    let pending = metering::jobs::pending(&mut conn, 10).unwrap();
    assert_eq!(pending.len(), 1);

    // The worker does nothing while the crashed worker's lease lasts…
    let services = Services::default().with(Arc::new(SmsWorker(real.clone())));
    let soon = Utc::now() + chrono::Duration::seconds(90);
    assert_eq!(
        metering::run_due(&mut conn, &services, soon, 10).unwrap(),
        metering::WorkerRun::default()
    );
    // …then finishes the job: sent once, charged once.
    let run = metering::run_due(&mut conn, &services, later(), 10).unwrap();
    assert_eq!(run.finished, 1);
    assert_eq!(
        real.accepted_count(),
        1,
        "handed over once, whatever the crash"
    );
    let sent = &messages::chatter(&mut conn, customer.database_id, to).unwrap()[0];
    assert_eq!(sent.status, SmsStatus::Sent);
    let after = reload(&mut conn, account.id);
    assert_eq!((after.balance, after.reserved), (c("0.924"), Credits::ZERO));
    let job = metering::jobs::find(&mut conn, pending[0].id)
        .unwrap()
        .unwrap();
    assert_eq!((job.status, job.used), (JobStatus::Done, Some(c("0.076"))));
    assert_eq!(job.attempts, 2);
    // Nothing is left to do.
    assert_eq!(
        metering::run_due(&mut conn, &services, later(), 10).unwrap(),
        metering::WorkerRun::default()
    );
    assert_consistent(&mut conn);
}

#[test]
fn a_crash_before_the_carrier_is_called_is_finished_by_the_worker() {
    crash_then_recover(false);
}

#[test]
fn a_crash_after_the_carrier_accepted_is_neither_sent_twice_nor_free() {
    crash_then_recover(true);
}

#[test]
fn control_characters_are_refused_before_anything_is_written() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let account = customer.funded(&mut conn, "sms", "1");
    let to = contact(&mut conn, &customer);
    let carrier = SimulatedCarrier::default();
    for body in ["Hi\0there", "bell\u{7}", "esc\u{1b}[0m"] {
        let refused = sending::send_to_contact(
            &mut conn,
            &carrier,
            customer.database_id,
            customer.admin_id,
            to,
            NumberField::Mobile,
            body,
        );
        assert!(
            matches!(refused, Err(SendError::ControlCharacters)),
            "{body:?}"
        );
    }
    assert_eq!(carrier.accepted_count(), 0);
    assert!(
        messages::chatter(&mut conn, customer.database_id, to)
            .unwrap()
            .is_empty()
    );
    assert_eq!(reload(&mut conn, account.id).balance, c("1"));
    // Line breaks are fine.
    sending::send_to_contact(
        &mut conn,
        &carrier,
        customer.database_id,
        customer.admin_id,
        to,
        NumberField::Mobile,
        "Line one\r\nLine two",
    )
    .unwrap();
}

#[test]
fn a_mass_sms_is_held_long_enough_for_every_attempt_of_its_job() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let account = customer.funded(&mut conn, "sms", "10");
    let ids: Vec<ContactId> = (0..3).map(|_| contact(&mut conn, &customer)).collect();
    let real = Arc::new(SimulatedCarrier::default());
    let crashing = CrashingCarrier {
        real: real.clone(),
        after_accepting: false,
    };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        sending::send_to_many(
            &mut conn,
            &crashing,
            customer.database_id,
            customer.admin_id,
            &ids,
            "Spring sale",
        )
    }));
    let job = &metering::jobs::pending(&mut conn, 10).unwrap()[0];
    let hold = holds::find(&mut conn, account.id, job.hold_id)
        .unwrap()
        .unwrap();
    let lasts = hold.expires_at - hold.created_at;
    let attempts = metering::LEASE * (MAX_ATTEMPTS as u32);
    assert!(
        lasts.to_std().unwrap() > attempts,
        "the hold ({lasts}) outlives every attempt ({attempts:?})"
    );
    assert_eq!(
        hold.amount,
        c("0.228"),
        "3 × 0.076, held for the whole batch"
    );
    let services = Services::default().with(Arc::new(SmsWorker(real.clone())));
    metering::run_due(&mut conn, &services, later(), 10).unwrap();
    assert_eq!(real.accepted_count(), 3);
    assert_eq!(reload(&mut conn, account.id).balance, c("9.772"));
    assert_consistent(&mut conn);
}

/// A service of a third-party provider (EU VAT Number Validation): its provider fails while
/// `failing`, and a job uses `used` credits.
struct VatChecks {
    failing: bool,
    used: Credits,
}

impl PaidService for VatChecks {
    fn slug(&self) -> &'static str {
        "vat-validation"
    }

    fn perform(&self, _conn: &mut PgConnection, _job: &Job) -> Result<(), PerformError> {
        if self.failing {
            Err(PerformError("the VIES registry does not answer".into()))
        } else {
            Ok(())
        }
    }

    fn close_unfinished(&self, _conn: &mut PgConnection, _job: &Job) -> QueryResult<()> {
        Ok(())
    }

    fn used(&self, _conn: &mut PgConnection, _job: &Job) -> QueryResult<Credits> {
        Ok(self.used)
    }
}

fn begin_vat_job(conn: &mut PgConnection, customer: &Customer) -> Job {
    let actor = Actor::user(customer.admin_id);
    let request = Request {
        database_id: customer.database_id,
        account: None,
        service: &VatChecks {
            failing: false,
            used: c("0"),
        },
        credits: c("3"),
        hold_ttl: Duration::from_secs(3600),
        description: "Check 3 VAT numbers",
        actor: &actor,
    };
    metering::begin(conn, &request, |_, _| Ok(())).unwrap().0
}

#[test]
fn what_a_job_used_is_captured_and_the_rest_released() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let account = customer.funded(&mut conn, "vat-validation", "5");
    let job = begin_vat_job(&mut conn, &customer);
    assert_eq!(reload(&mut conn, account.id).reserved, c("3"));
    let service = VatChecks {
        failing: false,
        used: c("1"),
    };
    let done = metering::run(&mut conn, &service, job.id).unwrap().unwrap();
    assert_eq!((done.status, done.used), (JobStatus::Done, Some(c("1"))));
    let after = reload(&mut conn, account.id);
    assert_eq!((after.balance, after.reserved), (c("4"), Credits::ZERO));
    // Running it again changes nothing.
    assert!(
        metering::run(&mut conn, &service, job.id)
            .unwrap()
            .is_none()
    );
    assert_eq!(reload(&mut conn, account.id).balance, c("4"));
    assert_consistent(&mut conn);
}

#[test]
fn a_provider_that_keeps_failing_is_given_up_and_nothing_is_charged() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    let account = customer.funded(&mut conn, "vat-validation", "5");
    let job = begin_vat_job(&mut conn, &customer);
    let failing = VatChecks {
        failing: true,
        used: Credits::ZERO,
    };
    let first = metering::run(&mut conn, &failing, job.id).unwrap().unwrap();
    assert_eq!((first.status, first.attempts), (JobStatus::Pending, 1));
    assert_eq!(
        first.last_error.as_deref(),
        Some("the VIES registry does not answer")
    );
    let services = Services::default().with(Arc::new(VatChecks {
        failing: true,
        used: Credits::ZERO,
    }));
    let mut when = Utc::now();
    for _ in 1..MAX_ATTEMPTS {
        when += chrono::Duration::minutes(1);
        metering::run_due(&mut conn, &services, when, 10).unwrap();
    }
    let given_up = metering::jobs::find(&mut conn, job.id).unwrap().unwrap();
    assert_eq!(
        (given_up.status, given_up.attempts, given_up.used),
        (JobStatus::Failed, MAX_ATTEMPTS, Some(Credits::ZERO))
    );
    let after = reload(&mut conn, account.id);
    assert_eq!((after.balance, after.reserved), (c("5"), Credits::ZERO));
    assert_consistent(&mut conn);
}

#[test]
fn two_workers_racing_for_a_job_finish_it_once() {
    let db = TestDb::new();
    let customer = Customer::new(&mut db.conn(), Subscription::None);
    let account = customer.funded(&mut db.conn(), "vat-validation", "5");
    let job = begin_vat_job(&mut db.conn(), &customer);
    let services = Services::default().with(Arc::new(VatChecks {
        failing: false,
        used: c("2"),
    }));
    let barrier = Arc::new(Barrier::new(4));
    let when = later();
    let finished: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (barrier, services, db) = (barrier.clone(), services.clone(), &db);
                s.spawn(move || {
                    let mut conn = db.conn();
                    barrier.wait();
                    metering::run_due(&mut conn, &services, when, 10)
                        .unwrap()
                        .finished
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(finished, 1);
    let mut conn = db.conn();
    let done = metering::jobs::find(&mut conn, job.id).unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(reload(&mut conn, account.id).balance, c("3"));
    assert_consistent(&mut conn);
}

#[test]
fn a_job_no_worker_here_can_run_is_left_for_one_that_can() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let customer = Customer::new(&mut conn, Subscription::None);
    customer.funded(&mut conn, "vat-validation", "5");
    let job = begin_vat_job(&mut conn, &customer);
    let sms_only =
        Services::default().with(Arc::new(SmsWorker(Arc::new(SimulatedCarrier::default()))));
    let run = metering::run_due(&mut conn, &sms_only, later(), 10).unwrap();
    assert_eq!((run.finished, run.retried), (0, 1));
    let waiting = metering::jobs::find(&mut conn, job.id).unwrap().unwrap();
    assert_eq!(waiting.status, JobStatus::Pending);
    // A worker that runs the service finishes it.
    let vat = Services::default().with(Arc::new(VatChecks {
        failing: false,
        used: c("1"),
    }));
    let much_later = later() + chrono::Duration::hours(1);
    assert_eq!(
        metering::run_due(&mut conn, &vat, much_later, 10)
            .unwrap()
            .finished,
        1
    );
    assert_consistent(&mut conn);
}
