//! Problems found in administrator-edited files, each with a place and a way to fix it.
//!
//! Loaders never stop at the first problem: they collect every one, so `njia check` can print
//! them all at once and an administrator fixes a file in one pass.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        Problem { file: at.file.to_path_buf(), line: at.line, col: at.col, severity, what, fix }
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

/// A position in a file. The file is shared: a menu keeps a place for every screen, option
/// and message, and a catalogue thousands of them, all in a few files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub file: Arc<Path>,
    pub line: usize,
    pub col: usize,
}

impl Place {
    pub fn new(file: &Path, line: usize, col: usize) -> Place {
        Place { file: Arc::from(file), line, col }
    }

    /// A place in `file`, sharing it with the file's other places.
    pub fn shared(file: &Arc<Path>, line: usize, col: usize) -> Place {
        Place { file: Arc::clone(file), line, col }
    }

    /// The place of byte `offset` in `source`.
    pub fn at_offset(file: &Path, source: &str, offset: usize) -> Place {
        let (line, col) = line_col(source, offset);
        Place::new(file, line, col)
    }

    /// The place of byte `offset` in `source`, whose lines `lines` indexes: for the many places
    /// of one file (a menu file names one for every screen, option and message).
    pub fn at_indexed(file: &Arc<Path>, source: &str, lines: &LineIndex, offset: usize) -> Place {
        let (line, col) = lines.line_col(source, offset);
        Place::shared(file, line, col)
    }

    pub fn whole_file(file: &Path) -> Place {
        Place::new(file, 1, 1)
    }
}

/// 1-based line and column (in characters) of byte `offset` in `source`.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    LineIndex::new(source).line_col(source, offset)
}

/// Where each line of a source starts, so that each of many offsets becomes a line and column
/// by a binary search instead of a scan from the top of the file (with a place per screen,
/// option and message, scanning made loading a large menu file quadratic in its size).
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(source: &str) -> LineIndex {
        LineIndex { starts: std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect() }
    }

    /// 1-based line and column (in characters) of byte `offset` in `source`, the text this
    /// index was built from.
    pub fn line_col(&self, source: &str, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        // Lines starting at or before the offset; the first always does.
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let line_start = self.starts.get(line - 1).copied().unwrap_or(0);
        let col = source[line_start..offset].chars().count() + 1;
        (line, col)
    }
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
        assert_eq!(line_col(s, 2), (1, 3), "the newline itself ends its line");
        assert_eq!(line_col("", 0), (1, 1));
        assert_eq!(line_col("a\n", 2), (2, 1));
    }
}
