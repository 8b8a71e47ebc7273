//! How many SMS parts a message takes. A message is GSM-7 (160 characters in one SMS, 153 per
//! part when longer; the extension characters ^{}\[~]|€ and form feed take two) unless one of
//! its characters is outside GSM-7: then the whole message is UCS-2, counted in UTF-16 code
//! units (70 in one SMS, 67 per part; an emoji takes two). A two-unit character is never split
//! across parts, as phones do not split it either.

/// Messages needing more parts than this are refused.
pub const MAX_PARTS: usize = 10;

/// The GSM 03.38 default alphabet (without the escape character).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table, each sent as escape + character.
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }

    /// (units in a single SMS, units per part of a longer message)
    fn limits(self) -> (usize, usize) {
        match self {
            Encoding::Gsm7 => (160, 153),
            Encoding::Ucs2 => (70, 67),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsCount {
    pub encoding: Encoding,
    /// Characters as the person sees them.
    pub characters: usize,
    /// Length in the encoding's units (septets for GSM-7, UTF-16 code units for UCS-2).
    pub units: usize,
    pub parts: usize,
}

impl SmsCount {
    pub fn too_long(&self) -> bool {
        self.parts > MAX_PARTS
    }
}

fn gsm7_cost(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

pub fn count(text: &str) -> SmsCount {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm7_cost).collect();
    let (encoding, costs) = match gsm {
        Some(costs) => (Encoding::Gsm7, costs),
        None => (Encoding::Ucs2, text.chars().map(char::len_utf16).collect()),
    };
    let units: usize = costs.iter().sum();
    let (single, per_part) = encoding.limits();
    let parts = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        // Fill parts in order; a character that does not fit whole starts the next part.
        let mut parts = 1;
        let mut used = 0;
        for cost in costs {
            if used + cost > per_part {
                parts += 1;
                used = 0;
            }
            used += cost;
        }
        parts
    };
    SmsCount {
        encoding,
        characters: text.chars().count(),
        units,
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_messages() {
        let table: &[(String, Encoding, usize, usize)] = &[
            (String::new(), Encoding::Gsm7, 0, 0),
            ("Hello".into(), Encoding::Gsm7, 5, 1),
            ("a".repeat(160), Encoding::Gsm7, 160, 1),
            ("a".repeat(161), Encoding::Gsm7, 161, 2),
            ("a".repeat(306), Encoding::Gsm7, 306, 2),
            ("a".repeat(307), Encoding::Gsm7, 307, 3),
            ("€".repeat(80), Encoding::Gsm7, 160, 1),
            ("€".repeat(81), Encoding::Gsm7, 162, 2),
            // 152 basic + one extension character: it does not fit in part one's last unit.
            (
                format!("{}€{}", "a".repeat(152), "a".repeat(10)),
                Encoding::Gsm7,
                164,
                2,
            ),
            ("Ça coûte 5 €".into(), Encoding::Ucs2, 12, 1),
            (
                "Prix: 5 € à Zürich, è é ù ì ò Ç".into(),
                Encoding::Gsm7,
                32,
                1,
            ),
            ("é".repeat(161), Encoding::Gsm7, 161, 2),
            ("ê".repeat(70), Encoding::Ucs2, 70, 1),
            ("ê".repeat(71), Encoding::Ucs2, 71, 2),
            ("ê".repeat(134), Encoding::Ucs2, 134, 2),
            ("ê".repeat(135), Encoding::Ucs2, 135, 3),
            ("😀".repeat(35), Encoding::Ucs2, 70, 1),
            ("😀".repeat(36), Encoding::Ucs2, 72, 2),
            // 66 units then an emoji (2 units): it moves whole to part two.
            (
                format!("{}😀{}", "ê".repeat(66), "ê".repeat(5)),
                Encoding::Ucs2,
                73,
                2,
            ),
            ("Привет".into(), Encoding::Ucs2, 6, 1),
            ("a".repeat(1530), Encoding::Gsm7, 1530, 10),
            ("a".repeat(1531), Encoding::Gsm7, 1531, 11),
        ];
        for (text, encoding, units, parts) in table {
            let c = count(text);
            assert_eq!(
                (c.encoding, c.units, c.parts),
                (*encoding, *units, *parts),
                "{text:?}"
            );
        }
        assert!(count(&"a".repeat(2000)).too_long());
        assert!(!count(&"a".repeat(1530)).too_long());
    }

    proptest! {
        #[test]
        fn any_text_is_counted_without_panic(text in any::<String>()) {
            let c = count(&text);
            prop_assert!(c.units >= c.characters || c.characters == 0);
            prop_assert_eq!(c.parts == 0, text.is_empty());
            let (single, per_part) = c.encoding.limits();
            if c.units > single {
                prop_assert!(c.parts >= c.units.div_ceil(per_part));
            }
        }

        #[test]
        fn gsm_text_stays_gsm(text in "[A-Za-z0-9 .,!?@£$]{0,400}") {
            let c = count(&text);
            prop_assert_eq!(c.encoding, Encoding::Gsm7);
            prop_assert_eq!(c.units, text.chars().count());
            let expected = match c.units { 0 => 0, n if n <= 160 => 1, n => n.div_ceil(153) };
            prop_assert_eq!(c.parts, expected);
        }
    }
}
