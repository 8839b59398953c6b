//! What a command returns: its stdout and exit code, or its error; and the shapes of
//! its output that several commands share (a table, a written file).

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use super::exit;
use crate::workspace::Failed;
use flinkform_core::diag::Diagnostic;
use flinkform_core::state::StateError;
use flinkform_core::view::{self, Style};

/// What a command produced.
pub(super) struct Output {
    pub(super) stdout: Stdout,
    pub(super) code: u8,
}

/// A command's stdout: its text, or text written out as it is made (a large plan is
/// never whole in memory).
pub(super) enum Stdout {
    Text(String),
    Stream(Writer),
}

/// Writes a command's stdout as it makes it.
pub(super) type Writer = Box<dyn FnOnce(&mut dyn Write) -> std::io::Result<()>>;

impl Stdout {
    /// Writes it out.
    pub(super) fn write(self, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Stdout::Text(text) => out.write_all(text.as_bytes()),
            Stdout::Stream(write) => write(out),
        }
    }

    /// The whole text.
    pub(super) fn into_text(self) -> String {
        match self {
            Stdout::Text(text) => text,
            stream => {
                let mut out = Vec::new();
                let _ = stream.write(&mut out);
                String::from_utf8_lossy(&out).into_owned()
            }
        }
    }
}

impl From<String> for Stdout {
    fn from(text: String) -> Self {
        Stdout::Text(text)
    }
}

pub(super) enum Error {
    Diagnostics(Vec<Diagnostic>),
    Other(anyhow::Error),
}

impl From<Failed> for Error {
    fn from(f: Failed) -> Self {
        Error::Diagnostics(f.0)
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Other(e)
    }
}

impl From<StateError> for Error {
    fn from(e: StateError) -> Self {
        match &e {
            StateError::Corrupt { path, .. } if !path.ends_with(".backup") => Error::Diagnostics(vec![
                Diagnostic::error(e.to_string()).with_help(
                    "`flinkform state restore` puts back the state before it (the backup every write keeps) and sets the unreadable one aside",
                ),
            ]),
            _ => Error::Other(e.into()),
        }
    }
}

/// Success, with `stdout`.
pub(super) fn ok(stdout: String) -> Result<Output, Error> {
    Ok(Output { stdout: stdout.into(), code: exit::OK })
}

/// Rows under `header`: columns aligned as `ls` prints them, or (`json`) objects keyed
/// by the header's names in lower case, each cell its JSON value (a number stays a
/// number, a list a list).
pub(super) fn table(header: &[&str], rows: &[Vec<serde_json::Value>], json: bool) -> String {
    if json {
        let keys: Vec<String> = header.iter().map(|h| h.to_lowercase().replace(' ', "_")).collect();
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| serde_json::Value::Object(keys.iter().cloned().zip(r.iter().cloned()).collect()))
            .collect();
        return serde_json::to_string_pretty(&v).expect("JSON serializes") + "\n";
    }
    fn text(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(","),
            serde_json::Value::Null => "-".into(),
            other => other.to_string(),
        }
    }
    let lines: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(rows.iter().map(|r| r.iter().map(text).collect()))
        .collect();
    let mut width = vec![0; header.len()];
    for l in &lines {
        for (w, cell) in width.iter_mut().zip(l) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for l in &lines {
        let mut line = String::new();
        for (i, cell) in l.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < l.len() {
                line.push_str(&" ".repeat(width[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// An error as stderr shows it.
pub(super) fn error_text(e: &Error, style: Style) -> String {
    match e {
        Error::Diagnostics(diags) => {
            let mut text = view::diagnostics(diags, style);
            let n = diags.iter().filter(|d| d.is_error()).count();
            if n > 1 {
                text.push_str(&format!("\n{n} errors"));
            }
            text
        }
        Error::Other(e) => {
            let label = if style.color { "\x1b[1;31merror\x1b[0m" } else { "error" };
            format!("{label}: {e:#}")
        }
    }
}

/// Each error of `e` on its own, plain, as JSON and the PR comment show them.
pub(super) fn error_list(e: &Error) -> Vec<String> {
    match e {
        Error::Diagnostics(diags) => diags.iter().map(|d| d.to_string()).collect(),
        Error::Other(e) => vec![format!("error: {e:#}")],
    }
}

/// Writes `text` to `path`, saying which file could not be written.
pub(super) fn write_new(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes `text` to stdout at once (a prompt, a progress line).
pub(super) fn print_now(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
