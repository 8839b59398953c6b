//! `flinkform fmt`: the canonical layout of flinkform.toml and the specs, comments kept.
//! Line by line: `key = value` spacing on simple keys, no trailing whitespace, one blank
//! line before each table (before the comments that lead into it), no runs of blank
//! lines, one newline at the end. Multi-line strings are left as written. The result
//! must parse to the same values, or the file is left alone.

/// Why a file cannot be formatted.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// It is not TOML.
    #[error("not valid TOML: {}", .0.message())]
    Toml(toml::de::Error),
    /// The layout would not read back (a bug of the formatter; the file is left alone).
    #[error("formatting broke the file: {0}")]
    Broke(toml::de::Error),
    /// The layout would read back as other values.
    #[error("formatting would change a value: the file is left as it is")]
    Changed,
}

/// The canonical form of `text`, or why it cannot be formatted (it is not TOML, or
/// formatting would change a value).
pub fn format_toml(text: &str) -> Result<String, FormatError> {
    let before: toml::Table = text.parse().map_err(FormatError::Toml)?;
    let mut out: Vec<String> = Vec::new();
    let mut in_string: Option<&str> = None;
    for raw in text.lines() {
        if let Some(delim) = in_string {
            out.push(raw.to_string());
            if raw.matches(delim).count() % 2 == 1 {
                in_string = None;
            }
            continue;
        }
        let line = raw.trim_end();
        for delim in ["\"\"\"", "'''"] {
            if line.matches(delim).count() % 2 == 1 {
                in_string = Some(delim);
            }
        }
        if line.is_empty() {
            if out.last().is_some_and(|l| !l.is_empty()) {
                out.push(String::new());
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') && !out.is_empty() {
            // The blank line goes before the comments that lead into the table.
            let lead = out.iter().rev().take_while(|l| l.trim_start().starts_with('#')).count();
            let at = out.len() - lead;
            if at > 0 && !out[at - 1].is_empty() {
                out.insert(at, String::new());
            }
        }
        out.push(spaced(line));
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    let formatted = out.join("\n") + "\n";
    let after: toml::Table = formatted.parse().map_err(FormatError::Broke)?;
    if after != before {
        return Err(FormatError::Changed);
    }
    Ok(formatted)
}

/// `key=value` as `key = value`, for a bare or dotted key at the start of the line.
fn spaced(line: &str) -> String {
    let indent = &line[..line.len() - line.trim_start().len()];
    let body = line.trim_start();
    let key_end = body.find(|c: char| !(c.is_ascii_alphanumeric() || "_-.".contains(c))).unwrap_or(body.len());
    let (key, rest) = body.split_at(key_end);
    let rest_trim = rest.trim_start();
    match rest_trim.strip_prefix('=') {
        Some(value) if !key.is_empty() && !key.starts_with('.') && !key.ends_with('.') => {
            format!("{indent}{key} = {}", value.trim_start())
        }
        _ => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lays_out_keys_tables_and_blank_lines_and_keeps_comments_and_strings() {
        let text = "version=1   \n# the target\n[vvp]\nregion =  \"r\"\n\n\n\n# leads into sink\n[sink]\n  table= \"t\" # trailing\nsql = \"\"\"\na=b   \n\n\n\"\"\"\n\n\n";
        let want = "version = 1\n\n# the target\n[vvp]\nregion = \"r\"\n\n# leads into sink\n[sink]\n  table = \"t\" # trailing\nsql = \"\"\"\na=b   \n\n\n\"\"\"\n";
        assert_eq!(format_toml(text).unwrap(), want);
        assert_eq!(format_toml(want).unwrap(), want, "formatting is idempotent");
        assert!(format_toml("a = [").unwrap_err().to_string().starts_with("not valid TOML"));
    }

    #[test]
    fn the_bundled_specs_are_formatted() {
        for text in [include_str!("../../../../flinkform.toml"), include_str!("../../../../pipelines/orders.toml")] {
            assert_eq!(format_toml(text).unwrap(), text);
        }
    }
}
