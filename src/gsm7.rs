//! GSM 03.38 (GSM-7) arithmetic: how many septets a text costs on a USSD screen or in an SMS.
//!
//! USSD screens and SMS are measured in GSM-7 septets, not bytes or chars: characters of the
//! extension table (`^ { } \ [ ~ ] | €` and form feed) are sent as ESC + char and cost two. A
//! single character outside both tables forces the whole text into UCS-2, which halves the room.
//! Everything here is allocation-free because the renderer calls it on the hot path.

/// Characters of the GSM 03.38 basic table (one septet each).
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// Characters of the extension table (two septets each: escape plus the character).
const EXTENSION: &str = "\u{000C}^{}\\[~]|€";

/// How a text must be encoded on the air interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Every character is in the GSM-7 basic or extension table.
    Gsm7,
    /// At least one character needs UCS-2 (16 bits per unit).
    Ucs2,
}

impl Encoding {
    /// Its name, as screens, pages and reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }
}

/// The cost of a text: its encoding and its length in that encoding's units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    pub encoding: Encoding,
    /// Septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
}

/// Septets one character costs, or `None` when it has no GSM-7 representation.
pub fn septets(c: char) -> Option<usize> {
    // ASCII letters and digits are the overwhelmingly common case; answer them without a scan.
    if c.is_ascii_alphanumeric() || c == ' ' {
        return Some(1);
    }
    if BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// True when every character of `text` can be sent as GSM-7.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| septets(c).is_some())
}

/// The characters of `text` that force UCS-2, in order of appearance (for warnings).
pub fn non_gsm7_chars(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars().filter(|c| septets(*c).is_none())
}

/// Septets of each ASCII byte: 1 for the basic table, 2 for the extension table, 0 for the
/// few ASCII characters GSM-7 lacks (control characters other than LF/CR/FF, and the backtick).
const ASCII_SEPTETS: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0x20;
    while b < 0x7f {
        t[b] = 1;
        b += 1;
    }
    t[b'\n' as usize] = 1;
    t[b'\r' as usize] = 1;
    t[0x0c] = 2;
    t[b'`' as usize] = 0;
    let ext = b"^{}\\[~]|";
    let mut i = 0;
    while i < ext.len() {
        t[ext[i] as usize] = 2;
        i += 1;
    }
    t
};

/// The encoding and length of `text`.
///
/// ```
/// use njia::gsm7::{cost, Encoding};
/// assert_eq!(cost("Karibu [1]").units, 12); // brackets are extension characters: 2 each
/// assert_eq!(cost("Asante “sana”").encoding, Encoding::Ucs2);
/// ```
pub fn cost(text: &str) -> Cost {
    // Screens are almost always ASCII: answer those from a table, without decoding chars.
    if text.is_ascii() {
        let mut septet_count = 0;
        for &b in text.as_bytes() {
            match ASCII_SEPTETS[usize::from(b)] {
                0 => return Cost { encoding: Encoding::Ucs2, units: text.len() },
                n => septet_count += usize::from(n),
            }
        }
        return Cost { encoding: Encoding::Gsm7, units: septet_count };
    }
    let mut septet_count = 0;
    for c in text.chars() {
        match septets(c) {
            Some(n) => septet_count += n,
            None => {
                return Cost { encoding: Encoding::Ucs2, units: text.encode_utf16().count() };
            }
        }
    }
    Cost { encoding: Encoding::Gsm7, units: septet_count }
}

/// The limit in `cost.encoding`'s units for a channel whose GSM-7 limit is `gsm7_limit`.
///
/// The channel limits are stated in GSM-7 characters; a UCS-2 screen carries half as many.
pub fn limit_for(encoding: Encoding, gsm7_limit: usize) -> usize {
    match encoding {
        Encoding::Gsm7 => gsm7_limit,
        Encoding::Ucs2 => gsm7_limit / 2,
    }
}

/// `text` measured for a screen whose GSM-7 limit is `gsm7_limit`: its cost, and the room its
/// encoding leaves (half for UCS-2).
pub fn measure(text: &str, gsm7_limit: usize) -> (Cost, usize) {
    let c = cost(text);
    (c, limit_for(c.encoding, gsm7_limit))
}

/// True when `text` fits a screen whose GSM-7 limit is `gsm7_limit`.
pub fn fits(text: &str, gsm7_limit: usize) -> bool {
    let (c, room) = measure(text, gsm7_limit);
    c.units <= room
}

/// Number of SMS segments `text` needs: 160/153 septets for GSM-7, 70/67 units for UCS-2.
pub fn sms_segments(text: &str) -> usize {
    let c = cost(text);
    let (single, part) = match c.encoding {
        Encoding::Gsm7 => (160, 153),
        Encoding::Ucs2 => (70, 67),
    };
    if c.units <= single { 1 } else { c.units.div_ceil(part) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_basic_extension_and_ucs2() {
        assert_eq!(cost("Karibu"), Cost { encoding: Encoding::Gsm7, units: 6 });
        assert_eq!(cost("a€"), Cost { encoding: Encoding::Gsm7, units: 3 });
        assert_eq!(cost("[x]"), Cost { encoding: Encoding::Gsm7, units: 5 });
        assert_eq!(cost("“x”"), Cost { encoding: Encoding::Ucs2, units: 3 });
        assert_eq!(cost("\u{2068}x\u{2069}").encoding, Encoding::Ucs2);
        assert_eq!(cost("😀").units, 2);
    }

    #[test]
    fn fits_halves_the_room_for_ucs2() {
        assert!(fits(&"a".repeat(160), 160));
        assert!(!fits(&"a".repeat(161), 160));
        assert!(!fits(&format!("{}€", "a".repeat(159)), 160));
        assert!(fits(&format!("{}’", "a".repeat(79)), 160));
        assert!(!fits(&format!("{}’", "a".repeat(80)), 160));
    }

    #[test]
    fn sms_segments_follow_the_udh_sizes() {
        assert_eq!(sms_segments(&"a".repeat(160)), 1);
        assert_eq!(sms_segments(&"a".repeat(161)), 2);
        assert_eq!(sms_segments(&"a".repeat(306)), 2);
        assert_eq!(sms_segments(&"a".repeat(307)), 3);
        assert_eq!(sms_segments(&"’".repeat(70)), 1);
        assert_eq!(sms_segments(&"’".repeat(71)), 2);
    }

    #[test]
    fn ascii_fast_path_agrees_with_the_tables() {
        for b in 0u8..128 {
            let c = char::from(b);
            let slow = septets(c);
            let fast = cost(&c.to_string());
            match slow {
                Some(n) => assert_eq!(fast, Cost { encoding: Encoding::Gsm7, units: n }, "{b:#x}"),
                None => assert_eq!(fast.encoding, Encoding::Ucs2, "{b:#x}"),
            }
        }
    }

    #[test]
    fn every_table_character_is_gsm7() {
        assert!(BASIC.chars().all(|c| septets(c) == Some(1)));
        assert!(EXTENSION.chars().all(|c| septets(c) == Some(2)));
        assert_eq!(BASIC.chars().count(), 127, "the basic table has 128 code points, one of them ESC");
    }
}
