//! Problems found in administrator-edited files, each with a place and a way to fix it.
//!
//! Loaders never stop at the first problem: they collect every one, so `njia check` can print
//! them all at once and an administrator fixes a file in one pass.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a problem is: errors stop `njia serve`, warnings are printed and tolerated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in one file, printed as `file:line:column: error: what — fix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line (1 when the problem concerns the file as a whole).
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    pub severity: Severity,
    /// What is wrong, in one sentence without a trailing period.
    pub what: String,
    /// What to do about it.
    pub fix: String,
}

impl Problem {
    pub fn error(at: Place, what: impl Into<String>, fix: impl Into<String>) -> Problem {
        Problem::new(at, Severity::Error, what.into(), fix.into())
    }

    pub fn warning(at: Place, what: impl Into<String>, fix: impl Into<String>) -> Problem {
        Problem::new(at, Severity::Warning, what.into(), fix.into())
    }

    fn new(at: Place, severity: Severity, what: String, fix: String) -> Problem {
        Problem { file: at.file, line: at.line, col: at.col, severity, what, fix }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}: {} — {}",
            self.file.display(),
            self.line.max(1),
            self.col.max(1),
            self.what,
            self.fix
        )
    }
}

/// A position in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
}

impl Place {
    pub fn new(file: &Path, line: usize, col: usize) -> Place {
        Place { file: file.to_path_buf(), line, col }
    }

    /// The place of byte `offset` in `source`.
    pub fn at_offset(file: &Path, source: &str, offset: usize) -> Place {
        let (line, col) = line_col(source, offset);
        Place::new(file, line, col)
    }

    pub fn whole_file(file: &Path) -> Place {
        Place::new(file, 1, 1)
    }
}

/// 1-based line and column (in characters) of byte `offset` in `source`.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..offset].chars().count() + 1;
    (line, col)
}

/// Sorts problems by file and position so output is stable and easy to follow.
pub fn sort(problems: &mut [Problem]) {
    problems.sort_by(|a, b| (&a.file, a.line, a.col, &a.what).cmp(&(&b.file, b.line, b.col, &b.what)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let s = "ab\nçd\nx";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 3), (2, 1));
        assert_eq!(line_col(s, 5), (2, 2));
        assert_eq!(line_col(s, 100), (3, 2));
    }
}
