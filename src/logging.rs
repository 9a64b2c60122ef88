//! Log output: text or JSON lines on standard error, with every phone number masked, whatever
//! field or message it sits in.
//!
//! Call sites mask the numbers they know about (`Msisdn::masked`), but a number also travels
//! inside other values: a payment account that is a phone number, a session id a telco built
//! from one, an error message quoting a request. So every finished line passes through
//! [`scrub`] before it is written: a privacy rule that does not depend on each call site
//! remembering it.

use std::io::{IsTerminal, Write};

use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Installs the process-wide subscriber: `RUST_LOG` or `default` as the filter, colours only
/// when standard error is a terminal, every line scrubbed. A second call does nothing.
pub fn init(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(Scrubbed);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Makes a [`ScrubbedLine`] per log event.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scrubbed;

impl<'a> MakeWriter<'a> for Scrubbed {
    type Writer = ScrubbedLine;
    fn make_writer(&'a self) -> ScrubbedLine {
        ScrubbedLine(Vec::with_capacity(256))
    }
}

/// One event's output, held until the event is fully formatted, then scrubbed and written to
/// standard error in one call (so lines of concurrent events never interleave).
pub struct ScrubbedLine(Vec<u8>);

impl Write for ScrubbedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ScrubbedLine {
    fn drop(&mut self) {
        let line = scrub(&String::from_utf8_lossy(&self.0));
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// `text` with every run of digits that is a Kenyan phone number masked: `254722000123`,
/// `+254722000123`, `0722000123` (and the `1…` series) keep their first four digits and last
/// three (`254722000123` becomes `2547*****123`). Longer or shorter runs (timestamps, amounts,
/// checkout ids) are left alone.
pub fn scrub(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            let next = text[i..].find(|c: char| c.is_ascii_digit()).map_or(text.len(), |n| i + n);
            out.push_str(&text[i..next]);
            i = next;
            continue;
        }
        let end = bytes[i..].iter().position(|b| !b.is_ascii_digit()).map_or(bytes.len(), |n| i + n);
        let run = &text[i..end];
        if is_phone(run) {
            let keep_tail = run.len() - 3;
            out.push_str(&run[..4]);
            out.extend(std::iter::repeat_n('*', keep_tail - 4));
            out.push_str(&run[keep_tail..]);
        } else {
            out.push_str(run);
        }
        i = end;
    }
    out
}

/// A Kenyan mobile number written as digits: `2547…`/`2541…` (12 digits) or `07…`/`01…` (10).
fn is_phone(run: &str) -> bool {
    let b = run.as_bytes();
    match b.len() {
        12 => b.starts_with(b"254") && matches!(b[3], b'7' | b'1'),
        10 => b[0] == b'0' && matches!(b[1], b'7' | b'1'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked_wherever_they_are() {
        assert_eq!(scrub("account=254722000123 x"), "account=2547*****123 x");
        assert_eq!(scrub("{\"to\":\"+254711000111\"}"), "{\"to\":\"+2547*****111\"}");
        assert_eq!(scrub("dial-254711223355-17959"), "dial-2541*****355-17959".replace("2541", "2547"));
        assert_eq!(scrub("call 0722000123 or 0110000123"), "call 0722***123 or 0110***123");
        // Not phone numbers: left as they are.
        for keep in
            ["20261204101010", "4500", "ws_CO_041220261010100001", "1795944618431", "254222000123", "0212345678"]
        {
            assert_eq!(scrub(keep), keep);
        }
        // Already masked numbers stay as they are.
        assert_eq!(scrub("+2547****344"), "+2547****344");
        assert_eq!(scrub("Ñ 254722000123 é"), "Ñ 2547*****123 é");
    }
}
