//! The `[sms]` section of a menu as data: the messages that hold the SMS channel's keywords
//! and replies, and the shape of a keyword read from them. What a text means and how it is answered is
//! `keywords`' business; this is only what it reads.

use crate::diag::Place;
use crate::types::Locale;

use super::Message;

/// The SMS channel's keywords and replies, as message ids (the words themselves are the
/// messages' values, per locale; `keywords::words` reads them).
#[derive(Debug)]
pub struct Sms {
    pub place: Place,
    pub help: Message,
    pub status: Option<SmsStatus>,
    pub language: Option<SmsLanguage>,
}

#[derive(Debug)]
pub struct SmsStatus {
    pub keyword: Message,
    pub reply: Message,
    pub not_found: Message,
}

#[derive(Debug)]
pub struct SmsLanguage {
    pub keyword: Message,
    pub reply: Message,
    pub unknown: Message,
}

impl Sms {
    /// Every message the section names, with what it is for.
    pub fn messages(&self) -> Vec<(&Message, &'static str)> {
        let mut out = vec![(&self.help, "help reply")];
        if let Some(s) = &self.status {
            out.extend([
                (&s.keyword, "status keyword"),
                (&s.reply, "status reply"),
                (&s.not_found, "status not_found"),
            ]);
        }
        if let Some(l) = &self.language {
            out.extend([
                (&l.keyword, "language keyword"),
                (&l.reply, "language reply"),
                (&l.unknown, "language unknown"),
            ]);
        }
        out
    }
}

/// What a keyword asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Status,
    Language,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Status => "status",
            Action::Language => "language",
        }
    }
}

/// One word that triggers an action, in the locale whose message defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyword {
    /// Upper case, as matched.
    pub word: String,
    pub action: Action,
    pub locale: Locale,
}
