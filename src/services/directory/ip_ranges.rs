//! Where the simulated directory's companies are on the internet: each company owns a few
//! blocks of 16 IPv4 addresses (a /28), so that Visitor Reveal can tell which company a
//! website visitor comes from. Deterministic and documented, computed rather than stored:
//!
//! - company `n` owns `1 + n % 3` blocks; its block `k` (0, 1 or 2) is block number
//!   `((4n + k) × A mod 2²⁸) XOR C` of the 2²⁸ blocks of IPv4 — a bijection, so no two
//!   companies share a block and the owner of any address is found by running it backwards;
//! - with the 20,000 companies of the default directory that is about 40,000 blocks, 0.015 %
//!   of all addresses: most addresses (and every IPv6 address) belong to no company.

use crate::kernel::ids::CompanyId;
use std::net::Ipv4Addr;

/// Odd, so that multiplying by it modulo 2²⁸ is a bijection.
const A: u32 = 0x05F3_759D;
const C: u32 = 0x00A5_C3E1;
const MASK: u32 = (1 << 28) - 1;
/// Addresses per block (a /28).
pub const BLOCK: u32 = 16;

/// `A`'s inverse modulo 2²⁸ (Newton's iteration: each step doubles the correct low bits).
const fn inverse_of_a() -> u32 {
    let mut x: u32 = A;
    let mut i = 0;
    while i < 5 {
        x = x.wrapping_mul(2u32.wrapping_sub(A.wrapping_mul(x)));
        i += 1;
    }
    x & MASK
}

const A_INVERSE: u32 = inverse_of_a();

fn block_of(company_id: i64, k: u32) -> Option<u32> {
    let n = u32::try_from(company_id).ok().filter(|n| *n < (1 << 26))?;
    Some(((4 * n + k).wrapping_mul(A) & MASK) ^ C)
}

/// How many blocks company `company_id` owns.
fn blocks_owned(company_id: i64) -> u32 {
    1 + u32::try_from(company_id.rem_euclid(3)).unwrap_or(0)
}

/// The company's address ranges, first and last address of each.
pub fn ranges_of(company: CompanyId) -> Vec<(Ipv4Addr, Ipv4Addr)> {
    let company_id = company.0;
    (0..blocks_owned(company_id))
        .filter_map(|k| block_of(company_id, k))
        .map(|block| {
            let first = block * BLOCK;
            (Ipv4Addr::from(first), Ipv4Addr::from(first + BLOCK - 1))
        })
        .collect()
}

/// The id of the company whose range holds `ip`, if one does (the directory may not have a
/// company of that id: the caller looks it up).
pub fn company_at(ip: Ipv4Addr) -> Option<CompanyId> {
    let block = u32::from(ip) / BLOCK;
    let x = ((block ^ C).wrapping_mul(A_INVERSE)) & MASK;
    let (company_id, k) = (i64::from(x / 4), x % 4);
    (company_id > 0 && k < blocks_owned(company_id)).then_some(CompanyId(company_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_of_a_company_leads_back_to_it() {
        assert_eq!(A.wrapping_mul(A_INVERSE) & MASK, 1);
        for company_id in [1, 2, 3, 17, 2024, 19_999, 20_000] {
            let ranges = ranges_of(CompanyId(company_id));
            assert_eq!(ranges.len() as u32, blocks_owned(company_id));
            for (first, last) in ranges {
                assert_eq!(u32::from(last) - u32::from(first), BLOCK - 1);
                for ip in u32::from(first)..=u32::from(last) {
                    assert_eq!(company_at(Ipv4Addr::from(ip)), Some(CompanyId(company_id)));
                }
            }
        }
    }

    #[test]
    fn most_addresses_belong_to_no_company() {
        let owned = (0..100_000u32)
            .map(|i| Ipv4Addr::from(i.wrapping_mul(2_654_435_761)))
            .filter(|ip| company_at(*ip).is_some_and(|id| id.0 <= 20_000))
            .count();
        assert!(
            owned < 100,
            "{owned} of 100,000 addresses belong to a company"
        );
    }
}
