//! Money: whole Kenyan shillings as a number, parsed strictly once where an amount enters.
//!
//! An amount comes from a lookup (a data file or an agency over HTTP), from an option's `set`
//! in a menu file, or from what a citizen types. It is parsed here, at that boundary, into a
//! [`Kes`], carried as a number through the session, the submit and the payment attempt, and
//! only formatted for a screen or an SMS. A rendered string is never parsed back: that is how
//! a width-cut `10,00` once became a charge of KES 1,000 on a 10,000 fee.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The smallest amount an M-Pesa STK push accepts.
pub const MIN_KES: u64 = 1;
/// The largest amount one STK push may ask for (Daraja's transaction limit).
pub const MAX_KES: u64 = 250_000;

/// An amount in whole Kenyan shillings, between [`MIN_KES`] and [`MAX_KES`].
///
/// M-Pesa STK pushes take whole shillings, and government fees are set in whole shillings, so
/// there is no minor unit: `4.50` is refused rather than rounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Kes(u64);

/// Why a text is not an amount.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("an amount is empty")]
    Empty,
    #[error("{0:?} is not whole shillings written as digits (4500 or 4,500)")]
    Malformed(String),
    #[error("{0:?} has commas that do not group thousands (write 10,000 or 10000)")]
    Grouping(String),
    #[error("KES {0} is outside what M-Pesa takes (1 to 250,000)")]
    OutOfRange(u64),
}

impl Kes {
    /// Parses whole shillings: plain digits (`10000`) or digits grouped in thousands by
    /// commas (`10,000`). Nothing else: no sign, no decimals, no currency, no spaces, no
    /// leading zeros, no comma out of place (`10,00` and `1,0000` are refused, never read as
    /// 1,000 or 10,000), and nothing outside 1 to 250,000.
    pub fn parse(raw: &str) -> Result<Kes, AmountError> {
        if raw.is_empty() {
            return Err(AmountError::Empty);
        }
        let malformed = || AmountError::Malformed(raw.to_owned());
        if !raw.bytes().all(|b| b.is_ascii_digit() || b == b',') {
            return Err(malformed());
        }
        let mut groups = raw.split(',');
        let first = groups.next().unwrap_or_default();
        if first.is_empty() || (first.len() > 1 && first.starts_with('0')) {
            return Err(malformed());
        }
        let grouped = raw.contains(',');
        if grouped && (first.len() > 3 || groups.clone().any(|g| g.len() != 3)) {
            return Err(AmountError::Grouping(raw.to_owned()));
        }
        let mut n: u64 = 0;
        for b in raw.bytes().filter(u8::is_ascii_digit) {
            // Checked, so a long run of digits is "out of range", never a wrapped number.
            n = n.checked_mul(10).and_then(|n| n.checked_add(u64::from(b - b'0'))).ok_or_else(malformed)?;
        }
        Kes::new(n)
    }

    /// An amount from a number (a JSON or TOML integer).
    pub fn new(n: u64) -> Result<Kes, AmountError> {
        if (MIN_KES..=MAX_KES).contains(&n) { Ok(Kes(n)) } else { Err(AmountError::OutOfRange(n)) }
    }

    pub fn get(self) -> u64 {
        self.0
    }

    /// Digits grouped in thousands, as citizens read amounts: `4,500`.
    pub fn formatted(self) -> String {
        group_thousands(self.0)
    }
}

impl TryFrom<u64> for Kes {
    type Error = AmountError;
    fn try_from(n: u64) -> Result<Kes, AmountError> {
        Kes::new(n)
    }
}

impl From<Kes> for u64 {
    fn from(k: Kes) -> u64 {
        k.0
    }
}

/// Plain digits: the form stored, logged and sent to Daraja.
impl fmt::Display for Kes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// `n` with its digits grouped in thousands by commas.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(250_000), "250,000");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn serde_refuses_out_of_range() {
        assert!(serde_json::from_str::<Kes>("0").is_err());
        assert_eq!(serde_json::from_str::<Kes>("4500").unwrap().get(), 4500);
        assert_eq!(serde_json::to_string(&Kes(4500)).unwrap(), "4500");
    }
}
