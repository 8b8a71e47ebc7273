//! An account's ninety days planned before anything is written: its trial, its uses (more on
//! weekdays, a little more each week) and the packs bought when its credits run low — with a
//! refund of a wrong pack where the account is one that makes that mistake.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::uses::{Record, Services, Usage};
use super::{Account, DAYS, Recipient, day_start};
use crate::kernel::credits::Credits;

/// One planned change of an account: an entry, and for a purchase the pack bought (its order
/// is written before the entries) and, for a refund, the purchase it takes back.
pub(super) enum Planned {
    Use {
        at: DateTime<Utc>,
        price: Credits,
        description: String,
        /// What the use leaves, for its service to write.
        record: Record,
    },
    Trial {
        at: DateTime<Utc>,
        credits: Credits,
        service: String,
    },
    Purchase {
        at: DateTime<Utc>,
        pack: usize,
        auto_topup: bool,
    },
    Refund {
        at: DateTime<Utc>,
        of_purchase: usize,
    },
}

/// Plans the account's days from `start` to a few minutes before `now`, oldest first.
pub(super) fn plan_account(
    rng: &mut ChaCha8Rng,
    account: &Account,
    usage: &Usage,
    services: &Services,
    demo_contacts: &[Recipient],
    (start, now): (DateTime<Utc>, DateTime<Utc>),
) -> Vec<Planned> {
    let packs = services.packs_of(usage);
    let mut leads_found = 0;
    let mut plan = Vec::new();
    let mut balance = Credits::ZERO;
    let mut purchases = 0usize;
    if account.subscription.gets_trial_credits() && usage.service.trial_credits > Credits::ZERO {
        plan.push(Planned::Trial {
            at: start + Duration::minutes(5),
            credits: usage.service.trial_credits,
            service: usage.service.name.clone(),
        });
        balance = usage.service.trial_credits;
    }
    let days = (now - day_start(start)).num_days() + 1;
    for day in 0..days {
        let date = day_start(start) + Duration::days(day);
        let weekday = !matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let growth = 0.75 + 0.5 * day as f64 / DAYS as f64;
        let rate = usage.per_day * growth * if weekday { 1.0 } else { 0.3 };
        let uses = rate.floor() as usize + usize::from(rng.random_bool(rate.fract()));
        let mut minutes: Vec<i64> = (0..uses).map(|_| rng.random_range(480..1140)).collect();
        minutes.sort_unstable();
        // One use a minute: a use's hold is captured within it.
        minutes.dedup();
        for minute in minutes {
            let at = date + Duration::minutes(minute);
            if at >= now - Duration::minutes(10) {
                break;
            }
            let Some((price, description, record)) = services.plan_use(
                usage.kind,
                rng,
                account.name,
                demo_contacts,
                at,
                &mut leads_found,
            ) else {
                continue;
            };
            if balance < price {
                // Short of credits: a pack is bought (by hand, or by the automatic top-up).
                let pack = if packs.len() > 1 && rng.random_bool(0.7) {
                    1
                } else {
                    0
                };
                // After the last use's capture (a minute before at most, and 15 s long).
                let bought = at - Duration::seconds(40);
                plan.push(Planned::Purchase {
                    at: bought,
                    pack,
                    auto_topup: account.auto_topup,
                });
                purchases += 1;
                balance = Credits::from_units(balance.units() + packs[pack].credits.units());
                if account.refunds && purchases == 2 {
                    // The wrong pack: refunded at once, and the right one bought.
                    plan.push(Planned::Refund {
                        at: bought + Duration::seconds(10),
                        of_purchase: purchases - 1,
                    });
                    balance = Credits::from_units(balance.units() - packs[pack].credits.units());
                    plan.push(Planned::Purchase {
                        at: bought + Duration::seconds(20),
                        pack: 0,
                        auto_topup: false,
                    });
                    purchases += 1;
                    balance = Credits::from_units(balance.units() + packs[0].credits.units());
                }
            }
            if balance < price {
                continue;
            }
            balance = Credits::from_units(balance.units() - price.units());
            plan.push(Planned::Use {
                at,
                price,
                description,
                record,
            });
        }
    }
    plan
}
