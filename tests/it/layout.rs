//! The layout rules of ARCHITECTURE.md, checked on the sources: every module says what
//! it owns, no function is over 100 lines, module imports run one way (no circle, no
//! `use super::*`, no static run state), and the crates' assets are the repository's.

use std::path::{Path, PathBuf};

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

/// A module opens with its doc comment, which says what it owns (a file that owns two
/// things is two modules); a function fits on a screen or two.
#[test]
fn every_module_says_what_it_owns_and_no_function_is_over_100_lines() {
    let mut problems = Vec::new();
    for f in sources().into_iter().filter(|f| !is_test_file(f)) {
        let text = std::fs::read_to_string(&f).unwrap();
        if !text.starts_with("//!") {
            problems.push(format!("{}: no module doc comment", f.display()));
        }
        for (name, at, len) in functions(&code_only(&text)) {
            if len > MAX_FN_LINES {
                problems.push(format!("{}:{at}: fn {name} is {len} lines", f.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
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

/// A source file's crate (its directory under `crates/`, or the root package) and its
/// module path (`plan::diff` for `plan/diff.rs`, `plan` for `plan/mod.rs`).
fn module_of(file: &Path) -> (String, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rel = file.strip_prefix(root).unwrap();
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let (krate, under_src) = match parts[0].as_str() {
        "crates" => (parts[1].clone(), &parts[3..]),
        _ => (".".to_string(), &parts[1..]),
    };
    let mut module: Vec<String> = under_src.iter().map(|p| p.trim_end_matches(".rs").to_string()).collect();
    if matches!(module.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        module.pop();
    }
    (krate, module)
}

/// The code of a non-test file without its inline `#[cfg(test)] mod tests`.
fn non_test_code(text: &str) -> String {
    let code = code_only(text);
    let test_module = ["#[cfg(test)]\nmod ", "#[cfg(test)]\npub(crate) mod "].iter().filter_map(|m| code.find(m)).min();
    match test_module {
        Some(at) => code[..at].to_string(),
        None => code,
    }
}

/// Every path a `use` item names, with its groups expanded (`a::{b, c::d}` → `a::b`,
/// `a::c::d`), and every path written inline (`crate::x::y(...)`).
fn paths_named(code: &str) -> Vec<String> {
    fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
        let tree = tree.trim();
        match tree.find('{') {
            Some(open) if tree.ends_with('}') => {
                let (head, inner) = (&tree[..open], &tree[open + 1..tree.len() - 1]);
                let mut depth = 0;
                let mut start = 0;
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            expand(&format!("{prefix}{head}"), &inner[start..i], out);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                expand(&format!("{prefix}{head}"), &inner[start..], out);
            }
            _ if !tree.is_empty() => out.push(format!("{prefix}{}", tree.split(" as ").next().unwrap().trim())),
            _ => {}
        }
    }
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest.find(';').unwrap_or(rest.len());
        let tree: String = rest[..end].chars().filter(|c| !c.is_whitespace() || *c == ' ').collect();
        expand("", &tree.replace('\n', " "), &mut out);
        rest = &rest[end..];
    }
    for word in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(word) {
            let start = from + at;
            from = start + word.len();
            if code[..start].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let len = code[start..].find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(0);
            out.push(code[start..start + len].trim_end_matches(':').to_string());
        }
    }
    out
}

/// The module a path from `module` names (the longest prefix that is a module of the
/// crate), if it starts at `crate`, `super` or `self`.
fn target(module: &[String], path: &str, modules: &std::collections::BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut at: Vec<String> = Vec::new();
    let mut parts = path.split("::").peekable();
    match parts.next()? {
        "crate" => {}
        "self" => at = module.to_vec(),
        "super" => {
            at = module.to_vec();
            at.pop();
            while parts.peek() == Some(&"super") {
                parts.next();
                at.pop();
            }
        }
        _ => return None,
    }
    for p in parts {
        let mut next = at.clone();
        next.push(p.to_string());
        if !modules.contains(&next) {
            break;
        }
        at = next;
    }
    Some(at)
}

/// The module import graph of each crate, as edges between siblings: a path from
/// `plan::diff` to `plan::sink::x` is the edge `plan::{diff → sink}`; to an ancestor or a
/// descendant it is none (a parent declares and re-exports its children).
fn sibling_edges() -> std::collections::BTreeSet<(String, Vec<String>, String, String)> {
    let files: Vec<PathBuf> = sources().into_iter().filter(|f| !is_test_file(f)).collect();
    let mut modules: std::collections::BTreeMap<String, std::collections::BTreeSet<Vec<String>>> = Default::default();
    for f in &files {
        let (krate, module) = module_of(f);
        modules.entry(krate).or_default().insert(module);
    }
    let mut edges = std::collections::BTreeSet::new();
    for f in &files {
        let (krate, module) = module_of(f);
        let code = non_test_code(&std::fs::read_to_string(f).unwrap());
        for path in paths_named(&code) {
            let Some(to) = target(&module, &path, &modules[&krate]) else { continue };
            let common = module.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common < module.len() && common < to.len() {
                edges.insert((krate.clone(), module[..common].to_vec(), module[common].clone(), to[common].clone()));
            }
        }
    }
    edges
}

/// A circle of imports between modules hides which one is built on which; every
/// module's imports run one way (`flinkform-core` is provably pure by `cargo tree`; this
/// is the same rule within each crate).
#[test]
fn no_import_circle_inside_any_crate() {
    let edges = sibling_edges();
    let mut circles = Vec::new();
    for (krate, parent, from, to) in &edges {
        // A circle is an edge whose target reaches its source among the same siblings.
        let mut seen = std::collections::BTreeSet::from([to.clone()]);
        let mut todo = vec![to.clone()];
        while let Some(m) = todo.pop() {
            for (k, p, a, b) in &edges {
                if k == krate && p == parent && *a == m && seen.insert(b.clone()) {
                    todo.push(b.clone());
                }
            }
        }
        if seen.contains(from) {
            circles.push(format!("{krate}: {}::{{{from} → {to} → … → {from}}}", parent.join("::")));
        }
    }
    assert!(circles.is_empty(), "import circles:\n  {}", circles.join("\n  "));
}

/// Imports are named (`use super::*` hides what a file uses), outside test modules; and
/// no `static` holds a run's state (a run's context is passed down).
#[test]
fn imports_are_named_and_no_static_holds_run_state() {
    let mut problems = Vec::new();
    for f in sources().into_iter().filter(|f| !is_test_file(f)) {
        let code = non_test_code(&std::fs::read_to_string(&f).unwrap());
        for (n, line) in code.lines().enumerate() {
            let l = line.trim_start();
            if l.starts_with("use super::*;") || l.starts_with("pub use super::*;") {
                problems.push(format!("{}:{}: use super::*", f.display(), n + 1));
            }
            let allocator = n > 0 && code.lines().nth(n - 1).is_some_and(|p| p.contains("#[global_allocator]"));
            if (l.starts_with("static ") || l.starts_with("pub static ") || l.starts_with("pub(crate) static "))
                && !allocator
            {
                problems.push(format!("{}:{}: {l}", f.display(), n + 1));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
