//! Diagnostics: problems found in user input, with a file position, the offending
//! line and a caret, what was expected, and a suggestion. Pure data plus rendering;
//! collected in bulk so one run reports every problem.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// Stops the command.
    Error,
    /// Reported, the command goes on.
    Warning,
}

/// A file's name (as shown to the user) and text, shared by its diagnostics.
#[derive(Clone, Debug)]
pub struct Source {
    /// Path relative to the project root, as printed.
    pub name: Arc<str>,
    /// Full text.
    pub text: Arc<str>,
}

impl Source {
    /// Wraps a file's name and text.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Source {
        Source { name: name.into(), text: text.into() }
    }

    /// An error at a byte span of this file.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let mut d = Diagnostic::error(message);
        d.at = Some(self.locate(span));
        d
    }

    /// An error at a span that holds a secret: the line is shown with the value masked.
    pub fn secret_error(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let mut d = self.error(span.clone(), message);
        if let Some(at) = &mut d.at {
            let line_start = self.text[..span.start.min(self.text.len())].rfind('\n').map_or(0, |i| i + 1);
            let end = span.end.min(line_start + at.text.len());
            let (from, to) = (span.start - line_start, end - line_start);
            at.text = format!("{}\"***\"{}", &at.text[..from], &at.text[to..]);
            at.width = 5;
        }
        d
    }

    /// The position of a byte span, with its line.
    pub fn locate(&self, span: Range<usize>) -> Location {
        let start = span.start.min(self.text.len());
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[start..].find('\n').map_or(self.text.len(), |i| start + i);
        let line = self.text[..start].matches('\n').count() + 1;
        let column = self.text[line_start..start].chars().count() + 1;
        let width = self.text[start..span.end.clamp(start, line_end)].chars().count().max(1);
        let text = self.text[line_start..line_end].trim_end_matches('\r');
        match masked(text) {
            // A credential's value never shows, whatever is wrong with the line (a TOML
            // syntax error, a number where a table was expected): the caret points at it.
            Some((text, at)) => Location { file: self.name.clone(), line, column: at + 1, text, width: 5 },
            None => Location { file: self.name.clone(), line, column, text: text.to_string(), width },
        }
    }
}

/// A byte span of a file, located (line, column, the line's text) only when shown:
/// kept for every key a spec sets, so that an error found later can point at it, while
/// the many that are never shown cost no more than the span.
#[derive(Clone)]
pub struct Spot {
    src: Source,
    span: Range<usize>,
}

impl Spot {
    /// The span `span` of `src`.
    pub fn new(src: &Source, span: Range<usize>) -> Spot {
        Spot { src: src.clone(), span }
    }

    /// Where it is, as a diagnostic shows it.
    pub fn locate(&self) -> Location {
        self.src.locate(self.span.clone())
    }
}

impl PartialEq for Spot {
    fn eq(&self, o: &Spot) -> bool {
        self.span == o.span && self.src.name == o.src.name && self.src.text == o.src.text
    }
}

impl fmt::Debug for Spot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{:?}", self.src.name, self.span)
    }
}

/// The options that carry a secret in every connector and format flinkform renders or
/// passes on, by rule rather than by the look of their names: Kafka's client
/// properties (Apache Kafka's configuration reference: `sasl.jaas.config`,
/// `ssl.key.password`, `ssl.keystore.password`, `ssl.truststore.password`,
/// `ssl.keystore.key`; the schema registry client's `basic.auth.user.info` and
/// `bearer.auth.token`), Flink's Avro-Confluent format (`basic-auth.user-info`,
/// `bearer-auth.token`, the keystore and truststore passwords), and the JDBC and
/// Hologres connectors' `password`. A key matches when it is one of these or ends with
/// `.` and one (`properties.ssl.key.password`, `avro-confluent.basic-auth.user-info`).
const SECRET_OPTIONS: &[&str] = &[
    "basic-auth.user-info",
    "basic.auth.user.info",
    "bearer-auth.token",
    "bearer.auth.token",
    "password",
    "sasl.jaas.config",
    "ssl.key.password",
    "ssl.keystore.key",
    "ssl.keystore.password",
    "ssl.truststore.password",
];

/// Options whose names look like a secret's but which say only where one comes from
/// (`USER_INFO`, `URL`, `SASL_INHERIT`...).
const NOT_SECRET_OPTIONS: &[&str] = &[
    "basic-auth.credentials-source",
    "basic.auth.credentials.source",
    "bearer-auth.credentials-source",
    "bearer.auth.credentials.source",
];

/// Whether `key` is `option` or ends with `.` and `option`.
fn is_option(key: &str, option: &str) -> bool {
    key == option || key.strip_suffix(option).is_some_and(|head| head.ends_with('.'))
}

/// Whether an option's key or value looks like it holds a credential: passwords,
/// secrets, tokens, credentials, access keys, JAAS configs, login modules, private keys.
pub fn looks_like_credential(key: &str, value: &str) -> bool {
    credential_key(key) || credential_value(value)
}

/// Whether an option or spec key names a credential: one of [`SECRET_OPTIONS`], or, for
/// keys no list knows, a name with password, secret, token, credential, an access key
/// or JAAS in it.
pub fn credential_key(key: &str) -> bool {
    let k = key.trim().trim_matches('"').to_ascii_lowercase();
    if SECRET_OPTIONS.iter().any(|o| is_option(&k, o)) {
        return true;
    }
    !NOT_SECRET_OPTIONS.iter().any(|o| is_option(&k, o))
        && (["password", "secret", "token", "credential", "jaas"].iter().any(|w| k.contains(w))
            || (k.contains("access") && k.contains("key")))
}

/// Whether a value holds a credential whatever its key: a JAAS login module (with its
/// user and password) or a PEM private key (Kafka's `ssl.keystore.key`).
pub fn credential_value(value: &str) -> bool {
    value.contains("LoginModule") || value.contains("PRIVATE KEY")
}

/// A `key = value` line whose key (any part of a dotted one, e.g.
/// `"properties.sasl.jaas.config"`) names a credential, or whose value holds a JAAS login
/// module or a private key, and whose value is not a table (`{ secret = "NAME" }` only names a variable):
/// the line with the value masked, and the value's column (in characters).
fn masked(line: &str) -> Option<(String, usize)> {
    let (key, value) = line.split_once('=')?;
    if !(credential_key(key.trim()) || credential_value(value)) || value.trim_start().starts_with('{') {
        return None;
    }
    let at = key.chars().count() + 1 + (value.len() - value.trim_start().len());
    Some((format!("{key}={}\"***\"", &value[..value.len() - value.trim_start().len()]), at))
}

/// Where a diagnostic points.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// File name as shown.
    pub file: Arc<str>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The whole line.
    pub text: String,
    /// Caret width in characters.
    pub width: usize,
}

/// One problem in user input.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, and what was expected.
    pub message: String,
    /// Where, when known.
    pub at: Option<Location>,
    /// A hint: the nearest valid key, how to fix.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with no position.
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Error, message: message.into(), at: None, help: None }
    }

    /// A warning with no position.
    pub fn warning(message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(message) }
    }

    /// Points the diagnostic at `at`, when known.
    pub fn at(mut self, at: Option<&Location>) -> Diagnostic {
        self.at = at.cloned();
        self
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{label}: {}", self.message)?;
        if let Some(at) = &self.at {
            let gutter = " ".repeat(at.line.to_string().len());
            writeln!(f, "{gutter}--> {}:{}:{}", at.file, at.line, at.column)?;
            writeln!(f, "{gutter} |")?;
            writeln!(f, "{} | {}", at.line, at.text)?;
            let pad: String = at.text.chars().take(at.column - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            writeln!(f, "{gutter} | {pad}{}", "^".repeat(at.width))?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

/// An error's message followed by each of its causes, `: `-separated (what `anyhow`
/// prints with `{:#}`), for messages kept as text.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The known word closest to `word`, if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::damerau_levenshtein(word, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// A JSON key as a message shows it: quoted, and cut after 60 characters.
pub fn shown_key(key: &str) -> String {
    match key.char_indices().nth(60) {
        Some((i, _)) => format!("{:?}… ({} characters)", &key[..i], key.chars().count()),
        None => format!("{key:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_and_caret() {
        let src = Source::new("pipelines/a.toml", "[source]\ntopik = \"x\"\n");
        let d = src.error(9..14, "unknown key `topik` in [source]").with_help("did you mean `topic`?");
        insta::assert_snapshot!(d.to_string(), @r#"
        error: unknown key `topik` in [source]
         --> pipelines/a.toml:2:1
          |
        2 | topik = "x"
          | ^^^^^
          = help: did you mean `topic`?
        "#);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("topik", ["topic", "group_id"]), Some("topic"));
        assert_eq!(suggest("zzzzzz", ["topic", "group_id"]), None);
    }
}
