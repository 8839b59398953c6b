//! The size limits of ARCHITECTURE.md, checked on the sources: no file over 600 lines
//! (tests and the wire DTOs aside), no function over 100 lines.

use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 100;

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    for c in std::fs::read_dir(root.join("crates")).unwrap().map(Result::unwrap) {
        rust_files(&c.path().join("src"), &mut files);
    }
    files.sort();
    files
}

fn is_test_file(p: &Path) -> bool {
    p.file_name().is_some_and(|n| n == "tests.rs") || p.components().any(|c| c.as_os_str() == "tests")
}

/// The text with comments, strings and character literals blanked out (newlines kept),
/// so that the braces left are the code's.
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let keep_newlines = |s: &[char], out: &mut String| s.iter().filter(|c| **c == '\n').for_each(|_| out.push('\n'));
    while i < b.len() {
        let start = i;
        match b[i] {
            '/' if b.get(i + 1) == Some(&'/') => {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
            }
            '/' if b.get(i + 1) == Some(&'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            'r' if matches!(b.get(i + 1), Some('"' | '#')) && (i == 0 || !b[i - 1].is_alphanumeric()) => {
                let mut hashes = 0;
                i += 1;
                while b.get(i) == Some(&'#') {
                    hashes += 1;
                    i += 1;
                }
                if b.get(i) != Some(&'"') {
                    out.push('r');
                    i = start + 1;
                    continue;
                }
                i += 1;
                while i < b.len()
                    && !(b[i] == '"' && b[i + 1..].iter().take(hashes).filter(|c| **c == '#').count() == hashes)
                {
                    i += 1;
                }
                i += 1 + hashes;
            }
            '"' => {
                i += 1;
                while i < b.len() && b[i] != '"' {
                    i += if b[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '\'' if b.get(i + 1) == Some(&'\\') => {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
            }
            '\'' if b.get(i + 2) == Some(&'\'') => i += 3,
            c => {
                out.push(c);
                i += 1;
                continue;
            }
        }
        keep_newlines(&b[start..i.min(b.len())], &mut out);
    }
    out
}

/// `(name, first line, length in lines)` of every function with a body.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let mut l = line.trim_start();
        for prefix in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe "] {
            l = l.strip_prefix(prefix).unwrap_or(l);
        }
        let Some(rest) = l.strip_prefix("fn ") else { continue };
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let mut depth = 0usize;
        'body: for (m, l) in lines[n..].iter().enumerate() {
            for c in l.chars() {
                match c {
                    ';' if depth == 0 => break 'body,
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            out.push((name.clone(), n + 1, m + 1));
                            break 'body;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

#[test]
fn the_code_only_view_blanks_strings_comments_and_chars() {
    let code = code_only("fn a() { let s = \"}\"; let c = '{'; let r = r#\"}\"#; // }\n let l: &'a str = x; }\n");
    assert_eq!(code.matches('{').count(), code.matches('}').count(), "{code}");
    assert_eq!(functions(&code), [("a".to_string(), 1, 2)]);
}

#[test]
fn no_file_over_600_lines_and_no_function_over_100() {
    let mut problems = Vec::new();
    for f in sources() {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines = text.lines().count();
        let wire = f.ends_with("crates/vvp-wire/src/wire.rs");
        if lines > MAX_FILE_LINES && !is_test_file(&f) && !wire {
            problems.push(format!("{}: {lines} lines", f.display()));
        }
        for (name, at, len) in functions(&code_only(&text)) {
            if len > MAX_FN_LINES && !is_test_file(&f) {
                problems.push(format!("{}:{at}: fn {name} is {len} lines", f.display()));
            }
        }
    }
    assert!(problems.is_empty(), "over the size limits:\n  {}", problems.join("\n  "));
}

/// Each library crate embeds its own assets (so it builds and packages alone); the
/// repository's `templates/` and `migrations/`, which users read and copy, are those very
/// directories (links), so there is one source.
#[test]
fn the_repositorys_templates_and_migrations_are_the_ones_the_crates_embed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (shown, embedded) in
        [("templates", "crates/flinkform-core/templates"), ("migrations", "crates/flinkform-state/migrations")]
    {
        let (a, b) = (root.join(shown).canonicalize().unwrap(), root.join(embedded).canonicalize().unwrap());
        assert_eq!(a, b, "{shown}/ is {embedded}/");
    }
}
