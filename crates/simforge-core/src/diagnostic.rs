//! Located, user-facing errors about a study file.
//!
//! A [`Diagnostic`] names the file, line and column, says what is wrong and what
//! was expected, and offers a hint. [`Diagnostic::render`] prints it with the
//! offending source line and a caret, the way compilers do.

use std::fmt;
use std::path::PathBuf;

/// A position in a source file (both 1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

/// One problem found in a study file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The file the problem is in.
    pub file: PathBuf,
    /// Where in the file, when known.
    pub location: Option<Location>,
    /// Dotted path of the offending field, e.g. `parameters.x.range`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// What was expected instead.
    pub expected: Option<String>,
    /// How to fix it.
    pub hint: Option<String>,
    /// The source line the location points into, for rendering.
    pub source_line: Option<String>,
}

impl Diagnostic {
    /// A diagnostic about `field` in `file`, without a location yet.
    pub fn new(
        file: impl Into<PathBuf>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            location: None,
            field: field.into(),
            message: message.into(),
            expected: None,
            hint: None,
            source_line: None,
        }
    }

    /// Adds what was expected.
    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `file:line:column` (or just `file` when the location is unknown).
    pub fn position(&self) -> String {
        match self.location {
            Some(l) => format!("{}:{}:{}", self.file.display(), l.line, l.column),
            None => self.file.display().to_string(),
        }
    }

    /// Multi-line rendering with the source line and a caret under the column.
    pub fn render(&self) -> String {
        let mut out = format!("error: {}: ", self.position());
        if !self.field.is_empty() {
            out.push_str(&format!("`{}`: ", self.field));
        }
        out.push_str(&self.message);
        out.push('\n');
        if let (Some(loc), Some(line)) = (self.location, &self.source_line) {
            let gutter = loc.line.to_string();
            let pad = " ".repeat(gutter.len());
            out.push_str(&format!("{pad} |\n{gutter} | {line}\n{pad} | "));
            out.push_str(&" ".repeat(loc.column.saturating_sub(1)));
            out.push_str("^\n");
        }
        if let Some(e) = &self.expected {
            out.push_str(&format!("  expected: {e}\n"));
        }
        if let Some(h) = &self.hint {
            out.push_str(&format!("  hint: {h}\n"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.position())?;
        if !self.field.is_empty() {
            write!(f, "`{}`: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(e) = &self.expected {
            write!(f, "; expected {e}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// One or more diagnostics; a study is rejected when this is non-empty.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl Diagnostics {
    /// Renders every diagnostic with source context.
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(Diagnostic::render)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

/// The candidate closest to `word` by edit distance, if close enough to be a
/// plausible typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("sampel", ["sampler", "samples", "seed"]),
            Some("samples")
        );
        assert_eq!(
            did_you_mean("paramters", ["parameters", "design"]),
            Some("parameters")
        );
        assert_eq!(did_you_mean("zzz", ["parameters", "design"]), None);
    }

    #[test]
    fn renders_caret_under_column() {
        let mut d = Diagnostic::new("s.yaml", "design.sampler", "unknown sampler `sobl`")
            .expected("one of grid, sobol")
            .hint("did you mean `sobol`?");
        d.location = Some(Location {
            line: 3,
            column: 12,
        });
        d.source_line = Some("  sampler:  sobl".into());
        let r = d.render();
        assert!(
            r.starts_with("error: s.yaml:3:12: `design.sampler`: unknown sampler `sobl`\n"),
            "{r}"
        );
        assert!(
            r.contains("3 |   sampler:  sobl\n  |            ^\n"),
            "{r}"
        );
        assert!(r.contains("expected: one of grid, sobol"));
        assert!(r.contains("hint: did you mean `sobol`?"));
    }
}
