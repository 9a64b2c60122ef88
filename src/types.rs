//! Domain types parsed once at the boundary and trusted inside: phone numbers, session keys,
//! locales and request references.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A subscriber's phone number in E.164 form, stored as its digits (country code first).
///
/// Parsing accepts what telcos and citizens send: `+254711000111`, `254711000111`,
/// `0711000111` (a Kenyan national number) and `711000111`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Msisdn(u64);

/// Why a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a phone number: expected digits with an optional leading +, 9 to 15 digits long")]
pub struct MsisdnError;

impl Msisdn {
    /// Parses an international number, or a Kenyan national one (`07…`, `01…`, `7…`).
    pub fn parse(raw: &str) -> Result<Msisdn, MsisdnError> {
        let raw = raw.trim();
        let digits = raw.strip_prefix('+').unwrap_or(raw);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MsisdnError);
        }
        // At most 15 digits: the value always fits a u64. Computed, not re-formatted, because
        // this runs on every hop.
        let value = |d: &str| d.bytes().fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
        const KENYA: u64 = 254_000_000_000;
        let number = match digits.len() {
            // A Kenyan national number with its trunk prefix: 0711000111 or 0110000111.
            10 if digits.starts_with('0') && !raw.starts_with('+') => KENYA + value(&digits[1..]),
            // A Kenyan subscriber number without the trunk prefix: 711000111.
            9 if !raw.starts_with('+') && (digits.starts_with('7') || digits.starts_with('1')) => KENYA + value(digits),
            9..=15 if !digits.starts_with('0') => value(digits),
            _ => return Err(MsisdnError),
        };
        Ok(Msisdn(number))
    }

    /// Parses a number a citizen typed, accepting only Kenyan mobile numbers (`2547…`, `2541…`).
    pub fn parse_kenyan_mobile(raw: &str) -> Result<Msisdn, MsisdnError> {
        let m = Msisdn::parse(raw)?;
        let d = m.0.to_string();
        let ok = d.len() == 12 && (d.starts_with("2547") || d.starts_with("2541"));
        if ok { Ok(m) } else { Err(MsisdnError) }
    }

    /// A number as stored (its digits as an integer), checked for a plausible length.
    pub fn from_u64(n: u64) -> Option<Msisdn> {
        (100_000_000..1_000_000_000_000_000).contains(&n).then_some(Msisdn(n))
    }

    /// The digits, country code first, without `+`.
    pub fn digits(self) -> String {
        self.0.to_string()
    }

    /// The number as a `u64`: cheap keys for maps and rate limiters.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// A form safe for logs: country code and first digit, then `****`, then the last three.
    pub fn masked(self) -> Masked {
        Masked(self)
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// A phone number as it may appear in logs (see [`Msisdn::masked`]).
#[derive(Clone, Copy)]
pub struct Masked(Msisdn);

impl fmt::Display for Masked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0.0.to_string();
        let (head, tail) = (d.len().min(4), d.len().saturating_sub(3));
        write!(f, "+{}****{}", &d[..head], &d[tail.max(head)..])
    }
}

impl fmt::Debug for Masked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A stored number as administrators see it: masked, or `purged` once personal data retention
/// removed it.
pub fn masked_or_purged(msisdn: Option<Msisdn>) -> String {
    msisdn.map_or_else(|| PURGED.to_owned(), |m| m.masked().to_string())
}

/// What is shown in place of a number (and of fields) a retention purge removed.
pub const PURGED: &str = "purged";

/// Masks a phone number given as raw text (for log lines about requests that failed to parse).
pub fn mask_raw_phone(raw: &str) -> String {
    match Msisdn::parse(raw) {
        Ok(m) => m.masked().to_string(),
        Err(_) => format!("<{} chars>", raw.chars().count()),
    }
}

/// A language tag such as `sw` or `en`; cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale(Arc<str>);

/// Why a language tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a language tag: {0:?} (expected letters, digits and '-', e.g. sw or en)")]
pub struct LocaleError(pub String);

impl Locale {
    pub fn parse(raw: &str) -> Result<Locale, LocaleError> {
        let ok = !raw.is_empty()
            && raw.len() <= 16
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && raw.as_bytes()[0].is_ascii_alphabetic();
        if ok { Ok(Locale(Arc::from(raw))) } else { Err(LocaleError(raw.to_owned())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Locale {
    type Error = LocaleError;
    fn try_from(s: String) -> Result<Locale, LocaleError> {
        Locale::parse(&s)
    }
}

impl From<Locale> for String {
    fn from(l: Locale) -> String {
        l.0.to_string()
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// Identifies one USSD session: the channel it came through and the telco's session id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionKey {
    pub channel: Arc<str>,
    pub session_id: Box<str>,
}

/// Why a telco session id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("session id must be 1 to 128 printable ASCII characters")]
pub struct SessionIdError;

impl SessionKey {
    pub fn new(channel: Arc<str>, session_id: &str) -> Result<SessionKey, SessionIdError> {
        let ok = !session_id.is_empty() && session_id.len() <= 128 && session_id.bytes().all(|b| b.is_ascii_graphic());
        if ok { Ok(SessionKey { channel, session_id: session_id.into() }) } else { Err(SessionIdError) }
    }
}

/// A request reference a citizen can read out and type, e.g. `NJ-7K2QX`.
///
/// The alphabet leaves out 0, 1, I and O, which are misread on small screens.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reference(String);

/// The characters of a reference after `NJ-`.
pub const REFERENCE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

impl Reference {
    /// Builds a reference from 25 random bits (32^5 = 33.5 million references).
    pub fn from_bits(bits: u64) -> Reference {
        let mut s = String::with_capacity(8);
        s.push_str("NJ-");
        for i in 0..5 {
            let idx = ((bits >> (i * 5)) & 31) as usize;
            s.push(REFERENCE_ALPHABET[idx] as char);
        }
        Reference(s)
    }

    /// Parses what a citizen typed: case-insensitive, with or without the `NJ-` prefix.
    ///
    /// ```
    /// use njia::types::Reference;
    /// assert_eq!(Reference::parse("nj-7k2qx").unwrap().as_str(), "NJ-7K2QX");
    /// assert_eq!(Reference::parse("7K2QX").unwrap().as_str(), "NJ-7K2QX");
    /// assert!(Reference::parse("NJ-7K2Q0").is_none(), "0 is not in the alphabet");
    /// ```
    pub fn parse(raw: &str) -> Option<Reference> {
        let up = raw.trim().to_ascii_uppercase();
        let body = up.strip_prefix("NJ-").or_else(|| up.strip_prefix("NJ")).unwrap_or(&up);
        let ok = body.len() == 5 && body.bytes().all(|b| REFERENCE_ALPHABET.contains(&b));
        ok.then(|| Reference(format!("NJ-{body}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msisdn_forms() {
        let cases = [
            ("+254711000111", Some(254711000111)),
            ("254711000111", Some(254711000111)),
            ("0711000111", Some(254711000111)),
            ("0110000111", Some(254110000111)),
            ("711000111", Some(254711000111)),
            ("+233244234546", Some(233244234546)),
            ("", None),
            ("+", None),
            ("07110001", None),
            ("+254 711", None),
            ("abc", None),
            ("0000000000000000000000", None),
        ];
        for (raw, want) in cases {
            assert_eq!(Msisdn::parse(raw).ok().map(|m| m.as_u64()), want, "{raw}");
        }
        assert!(Msisdn::parse_kenyan_mobile("0722000000").is_ok());
        assert!(Msisdn::parse_kenyan_mobile("+233244234546").is_err());
    }

    #[test]
    fn masking_hides_the_middle() {
        let m = Msisdn::parse("+254711223344").unwrap();
        assert_eq!(m.masked().to_string(), "+2547****344");
        assert_eq!(mask_raw_phone("nonsense"), "<8 chars>");
    }

    #[test]
    fn references_round_trip() {
        let r = Reference::from_bits(0x1234_5678);
        assert_eq!(Reference::parse(&r.as_str().to_lowercase()), Some(r.clone()));
        assert_eq!(Reference::parse(&r.as_str()[3..]), Some(r));
        assert_eq!(Reference::parse("NJ-0O1I0"), None);
    }
}
