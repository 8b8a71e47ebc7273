//! Keyset pagination, the one way lists are paged: a page is fetched with one row more than it
//! shows; that extra row says another page follows, and the key of the last row shown (an id,
//! or a name and an id) is where the next page starts. No OFFSET, so a page costs the same
//! however deep it is.

/// A page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyset(pub i64);

/// The rows of one page, and the key of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, K> {
    pub rows: Vec<T>,
    pub next: Option<K>,
}

impl Keyset {
    /// How many rows to fetch for a page: one more than it shows.
    pub const fn fetch(self) -> i64 {
        self.0 + 1
    }

    /// Cuts what was fetched (at most `fetch()` rows) to the page, and gives the next page's
    /// key when the extra row was there.
    pub fn page<T, K>(self, mut rows: Vec<T>, key: impl FnOnce(&T) -> K) -> Page<T, K> {
        let size = usize::try_from(self.0).unwrap_or(0);
        let next = if rows.len() > size {
            rows.truncate(size);
            rows.last().map(key)
        } else {
            None
        };
        Page { rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extra_row_says_a_next_page_follows() {
        let pages = Keyset(2);
        assert_eq!(pages.fetch(), 3);
        assert_eq!(
            pages.page(vec![9, 8, 7], |id| *id),
            Page {
                rows: vec![9, 8],
                next: Some(8)
            }
        );
        assert_eq!(
            pages.page(vec![9, 8], |id| *id),
            Page {
                rows: vec![9, 8],
                next: None
            }
        );
        assert_eq!(pages.page(Vec::<i64>::new(), |id| *id).next, None);
    }
}
