//! VAT (or business) numbers with each country's own check, for the generated directory: a
//! number is made from random digits and completed with its check digits, and `is_valid` checks
//! one as the country's tax office would. Countries without a check digit get none.

/// Digits of `text`, or `None` if it holds anything else.
fn digits(text: &str) -> Option<Vec<u32>> {
    text.chars().map(|c| c.to_digit(10)).collect()
}

fn weighted(ds: &[u32], weights: &[u32]) -> u32 {
    ds.iter().zip(weights).map(|(d, w)| d * w).sum()
}

fn luhn_ok(ds: &[u32]) -> bool {
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The digit that makes `ds` + digit pass Luhn.
fn luhn_digit(ds: &[u32]) -> u32 {
    (0..10)
        .find(|&c| {
            let mut all = ds.to_vec();
            all.push(c);
            luhn_ok(&all)
        })
        .unwrap_or(0)
}

/// ISO 7064 MOD 11,10 (Germany).
fn mod11_10_digit(ds: &[u32]) -> u32 {
    let mut product = 10;
    for d in ds {
        let mut sum = (d + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (2 * sum) % 11;
    }
    (11 - product) % 10
}

fn to_text(ds: &[u32]) -> String {
    ds.iter()
        .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
        .collect()
}

/// A valid number for `country` from `random` digits (at least 12 of them), or `None` where
/// the country has no VAT check (or no VAT).
pub fn make(country: &str, random: &[u32]) -> Option<String> {
    let r = |n: usize| random[..n].to_vec();
    let made = match country {
        "BE" => {
            let mut base = vec![0];
            base.extend(r(7));
            let n: u64 = to_text(&base).parse().ok()?;
            format!("BE{}{:02}", to_text(&base), 97 - n % 97)
        }
        "DE" => {
            let mut base = r(8);
            base[0] = base[0].max(1);
            format!("DE{}{}", to_text(&base), mod11_10_digit(&base))
        }
        "FR" => {
            let mut siren = r(8);
            siren[0] = siren[0].max(1);
            siren.push(luhn_digit(&siren));
            let n: u64 = to_text(&siren).parse().ok()?;
            format!("FR{:02}{}", (12 + 3 * (n % 97)) % 97, to_text(&siren))
        }
        "NL" => {
            // Weights 9..2 on 8 digits; the 9th makes the sum 0 mod 11 (not 10).
            let mut base = r(8);
            base[0] = base[0].max(1);
            let sum = weighted(&base, &[9, 8, 7, 6, 5, 4, 3, 2]) % 11;
            if sum == 10 {
                base[7] = (base[7] + 1) % 10;
                return make(country, &shift(random));
            }
            format!("NL{}{}B01", to_text(&base), sum)
        }
        "IT" => {
            let mut base = r(10);
            base[0] = base[0].max(1);
            format!("IT{}{}", to_text(&base), luhn_digit(&base))
        }
        "GB" => {
            let mut base = r(7);
            base[0] = base[0].max(1);
            let sum = weighted(&base, &[8, 7, 6, 5, 4, 3, 2]);
            let check = (97 - sum % 97) % 97;
            format!("GB{}{:02}", to_text(&base), check)
        }
        "AT" => {
            let base = r(7);
            format!("ATU{}{}", to_text(&base), at_check(&base))
        }
        "DK" => with_mod11(country, random, "DK", &[2, 7, 6, 5, 4, 3, 2], 7, "")?,
        "NO" => with_mod11(country, random, "NO", &[3, 2, 7, 6, 5, 4, 3, 2], 8, "MVA")?,
        "PL" => {
            let mut base = r(9);
            base[0] = base[0].max(1);
            let check = weighted(&base, &[6, 5, 7, 2, 3, 4, 5, 6, 7]) % 11;
            if check == 10 {
                return make(country, &shift(random));
            }
            format!("PL{}{}", to_text(&base), check)
        }
        "PT" => {
            let mut base = r(8);
            base[0] = base[0].clamp(5, 9);
            let sum = weighted(&base, &[9, 8, 7, 6, 5, 4, 3, 2]) % 11;
            let check = if sum < 2 { 0 } else { 11 - sum };
            format!("PT{}{}", to_text(&base), check)
        }
        "FI" => {
            let base = r(7);
            let sum = weighted(&base, &[7, 9, 10, 5, 8, 4, 2]) % 11;
            if sum == 1 {
                return make(country, &shift(random));
            }
            let check = if sum == 0 { 0 } else { 11 - sum };
            format!("FI{}{}", to_text(&base), check)
        }
        "SE" => {
            let mut base = r(9);
            base[0] = base[0].max(1);
            format!("SE{}{}01", to_text(&base), luhn_digit(&base))
        }
        "CH" => {
            let mut base = r(8);
            base[0] = base[0].max(1);
            let sum = weighted(&base, &[5, 4, 3, 2, 7, 6, 5, 4]) % 11;
            if sum == 1 {
                return make(country, &shift(random));
            }
            let check = if sum == 0 { 0 } else { 11 - sum };
            format!("CHE{}{}MWST", to_text(&base), check)
        }
        "LU" => {
            let mut base = r(6);
            base[0] = base[0].max(1);
            let n: u32 = to_text(&base).parse().ok()?;
            format!("LU{}{:02}", to_text(&base), n % 89)
        }
        "CZ" => {
            let mut base = r(7);
            base[0] = base[0].clamp(1, 8);
            let sum = weighted(&base, &[8, 7, 6, 5, 4, 3, 2]) % 11;
            let check = (11 - sum) % 11 % 10;
            format!("CZ{}{}", to_text(&base), check)
        }
        "ES" => {
            let base = r(7);
            format!("ESB{}{}", to_text(&base), es_check(&base))
        }
        "CA" => {
            let mut base = r(8);
            base[0] = base[0].max(1);
            format!("{}{}RT0001", to_text(&base), luhn_digit(&base))
        }
        "AU" => {
            // ABN: subtract 1 from the first digit, weights, sum divisible by 89.
            let weights = [10u32, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19];
            let mut tail = r(9);
            tail[0] = tail[0].max(1);
            let tail_sum: u32 = tail.iter().zip(&weights[2..]).map(|(d, w)| d * w).sum();
            // Choose the first two digits so that the whole sum is a multiple of 89.
            let (a, b) = (10..100u32).find_map(|ab| {
                let (a, b) = (ab / 10, ab % 10);
                ((a - 1) * 10 + b + tail_sum)
                    .is_multiple_of(89)
                    .then_some((a, b))
            })?;
            format!("{a}{b}{}", to_text(&tail))
        }
        _ => return None,
    };
    Some(made)
}

/// Austria: every second digit doubled (its digits summed), plus 4, to the next ten.
fn at_check(base: &[u32]) -> u32 {
    let s: u32 = base
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let p = d * 2;
                p / 10 + p % 10
            } else {
                d
            }
        })
        .sum();
    (10 - (s + 4) % 10) % 10
}

/// Spain (CIF of a company, letter B): odd positions doubled (their digits summed), even ones
/// added, to the next ten.
fn es_check(base: &[u32]) -> u32 {
    let s: u32 = base
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let p = d * 2;
                p / 10 + p % 10
            } else {
                d
            }
        })
        .sum();
    (10 - s % 10) % 10
}

/// The random digits shifted by one, to try again when a draw has no valid check digit.
fn shift(random: &[u32]) -> Vec<u32> {
    let mut next = random.to_vec();
    next.rotate_left(1);
    if let Some(first) = next.first_mut() {
        *first = (*first + 3) % 10;
    }
    next
}

/// Weights on `len` digits, plus the digit that makes the sum 0 mod 11.
fn with_mod11(
    country: &str,
    random: &[u32],
    prefix: &str,
    weights: &[u32],
    len: usize,
    suffix: &str,
) -> Option<String> {
    let mut base = random[..len].to_vec();
    base[0] = base[0].max(1);
    let sum = weighted(&base, weights) % 11;
    let check = (11 - sum) % 11;
    if check == 10 {
        return make(country, &shift(random));
    }
    Some(format!("{prefix}{}{}{suffix}", to_text(&base), check))
}

/// Whether `vat` passes `country`'s check (spaces and the suffixes above ignored).
pub fn is_valid(country: &str, vat: &str) -> bool {
    let clean: String = vat.chars().filter(|c| !c.is_whitespace()).collect();
    let body = |prefix: &str| clean.strip_prefix(prefix).and_then(digits);
    match country {
        "BE" => body("BE").is_some_and(|d| {
            d.len() == 10 && {
                let n: u64 = to_text(&d[..8]).parse().unwrap_or(0);
                let c: u64 = to_text(&d[8..]).parse().unwrap_or(0);
                97 - n % 97 == c
            }
        }),
        "DE" => body("DE").is_some_and(|d| d.len() == 9 && mod11_10_digit(&d[..8]) == d[8]),
        "FR" => body("FR").is_some_and(|d| {
            d.len() == 11 && luhn_ok(&d[2..]) && {
                let key: u64 = to_text(&d[..2]).parse().unwrap_or(0);
                let n: u64 = to_text(&d[2..]).parse().unwrap_or(0);
                (12 + 3 * (n % 97)) % 97 == key
            }
        }),
        "NL" => clean
            .strip_prefix("NL")
            .and_then(|s| s.strip_suffix("B01"))
            .and_then(digits)
            .is_some_and(|d| {
                d.len() == 9 && weighted(&d[..8], &[9, 8, 7, 6, 5, 4, 3, 2]) % 11 == d[8]
            }),
        "IT" => body("IT").is_some_and(|d| d.len() == 11 && luhn_ok(&d)),
        "GB" => body("GB").is_some_and(|d| {
            d.len() == 9 && {
                let c: u32 = to_text(&d[7..]).parse().unwrap_or(99);
                (weighted(&d[..7], &[8, 7, 6, 5, 4, 3, 2]) + c).is_multiple_of(97)
            }
        }),
        "AT" => body("ATU").is_some_and(|d| d.len() == 8 && at_check(&d[..7]) == d[7]),
        "DK" => body("DK").is_some_and(|d| {
            d.len() == 8 && weighted(&d, &[2, 7, 6, 5, 4, 3, 2, 1]).is_multiple_of(11)
        }),
        "NO" => clean
            .strip_prefix("NO")
            .and_then(|s| s.strip_suffix("MVA"))
            .and_then(digits)
            .is_some_and(|d| {
                d.len() == 9 && weighted(&d, &[3, 2, 7, 6, 5, 4, 3, 2, 1]).is_multiple_of(11)
            }),
        "PL" => body("PL").is_some_and(|d| {
            d.len() == 10 && weighted(&d[..9], &[6, 5, 7, 2, 3, 4, 5, 6, 7]) % 11 == d[9]
        }),
        "PT" => body("PT").is_some_and(|d| {
            d.len() == 9 && {
                let sum = weighted(&d[..8], &[9, 8, 7, 6, 5, 4, 3, 2]) % 11;
                (if sum < 2 { 0 } else { 11 - sum }) == d[8]
            }
        }),
        "FI" => body("FI").is_some_and(|d| {
            d.len() == 8 && {
                let sum = weighted(&d[..7], &[7, 9, 10, 5, 8, 4, 2]) % 11;
                sum != 1 && (if sum == 0 { 0 } else { 11 - sum }) == d[7]
            }
        }),
        "SE" => clean
            .strip_prefix("SE")
            .and_then(|s| s.strip_suffix("01"))
            .and_then(digits)
            .is_some_and(|d| d.len() == 10 && luhn_ok(&d)),
        "CH" => clean
            .strip_prefix("CHE")
            .and_then(|s| s.strip_suffix("MWST"))
            .and_then(digits)
            .is_some_and(|d| {
                d.len() == 9 && {
                    let sum = weighted(&d[..8], &[5, 4, 3, 2, 7, 6, 5, 4]) % 11;
                    sum != 1 && (if sum == 0 { 0 } else { 11 - sum }) == d[8]
                }
            }),
        "LU" => body("LU").is_some_and(|d| {
            d.len() == 8 && {
                let n: u32 = to_text(&d[..6]).parse().unwrap_or(0);
                let c: u32 = to_text(&d[6..]).parse().unwrap_or(99);
                n % 89 == c
            }
        }),
        "CZ" => body("CZ").is_some_and(|d| {
            d.len() == 8 && (11 - weighted(&d[..7], &[8, 7, 6, 5, 4, 3, 2]) % 11) % 11 % 10 == d[7]
        }),
        "ES" => body("ESB").is_some_and(|d| d.len() == 8 && es_check(&d[..7]) == d[7]),
        "CA" => clean
            .strip_suffix("RT0001")
            .and_then(digits)
            .is_some_and(|d| d.len() == 9 && luhn_ok(&d)),
        "AU" => digits(&clean).is_some_and(|d| {
            d.len() == 11 && d[0] >= 1 && {
                let weights = [10u32, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19];
                let mut adjusted = d.clone();
                adjusted[0] -= 1;
                weighted(&adjusted, &weights).is_multiple_of(89)
            }
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers published as valid examples by the tax offices (or their checksum documents).
    #[test]
    fn known_valid_numbers_pass_and_one_changed_digit_fails() {
        for (country, vat) in [
            ("BE", "BE0403170701"),
            ("DE", "DE136695976"),
            ("FR", "FR40303265045"),
            ("NL", "NL004495445B01"),
            ("IT", "IT00743110157"),
            ("GB", "GB980780684"),
            ("AT", "ATU13585627"),
            ("DK", "DK13585628"),
            ("PL", "PL5260250274"),
            ("PT", "PT501964843"),
            ("FI", "FI20774740"),
            ("LU", "LU15027442"),
            ("AU", "51824753556"),
            ("ES", "ESB58378431"),
        ] {
            assert!(is_valid(country, vat), "{country} {vat}");
            let mut changed: Vec<char> = vat.chars().collect();
            let last = changed.len() - 1;
            let at = (0..=last)
                .rev()
                .find(|&i| changed[i].is_ascii_digit())
                .unwrap();
            changed[at] = if changed[at] == '9' {
                '0'
            } else {
                (changed[at] as u8 + 1) as char
            };
            let changed: String = changed.into_iter().collect();
            assert!(
                !is_valid(country, &changed),
                "{country} {changed} should fail"
            );
        }
    }

    #[test]
    fn every_made_number_is_valid() {
        for country in [
            "BE", "DE", "FR", "NL", "IT", "GB", "AT", "DK", "NO", "PL", "PT", "FI", "SE", "CH",
            "LU", "CZ", "ES", "CA", "AU",
        ] {
            for seed in 0..300u32 {
                let random: Vec<u32> = (0..16)
                    .map(|i| (seed * 7 + i * 13 + seed / 3) % 10)
                    .collect();
                let vat = make(country, &random).unwrap();
                assert!(is_valid(country, &vat), "{country}: {vat}");
            }
        }
        assert_eq!(make("US", &[1; 16]), None);
    }
}
