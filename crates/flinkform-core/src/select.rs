//! Selecting pipelines, as dbt's `--select` and Terraform's `-target` do: by name or glob
//! (`orders`, `orders_*`), by tag (`tag:billing`, from `[pipeline] tags`), or by spec path
//! (`path:pipelines/billing/`), with `--exclude` taking away. A plan of a selection
//! plans only those pipelines and says so; the others are neither sampled nor touched.

use crate::spec::Pipeline;

/// One selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Selector {
    /// A pipeline name, `*` and `?` as wildcards.
    Name(String),
    /// Pipelines tagged so.
    Tag(String),
    /// Pipelines whose spec file is under this path (or is it).
    Path(String),
}

/// Why a selector cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Nothing after the method (`tag:`).
    #[error("empty selector `{0}`: write a name, `tag:NAME` or `path:DIR`")]
    Empty(String),
    /// A method flinkform does not know.
    #[error("unknown selector method `{method}:` in `{text}`: use a name, `tag:NAME` or `path:DIR`")]
    Method {
        /// The method (`tags`).
        method: String,
        /// The selector.
        text: String,
    },
}

impl Selector {
    fn parse(text: &str) -> Result<Selector, SelectorError> {
        let t = text.trim();
        let (kind, value) = match t.split_once(':') {
            Some((k, v)) => (Some(k), v),
            None => (None, t),
        };
        if value.is_empty() {
            return Err(SelectorError::Empty(text.to_string()));
        }
        match kind {
            None => Ok(Selector::Name(value.to_string())),
            Some("tag") => Ok(Selector::Tag(value.to_string())),
            Some("path") => Ok(Selector::Path(value.trim_start_matches("./").to_string())),
            Some(k) => Err(SelectorError::Method { method: k.to_string(), text: text.to_string() }),
        }
    }

    /// Whether it selects pipeline `name` (with its spec, when there is one).
    fn matches(&self, name: &str, spec: Option<&Pipeline>) -> bool {
        match self {
            Selector::Name(pattern) => glob(pattern, name),
            Selector::Tag(tag) => spec.is_some_and(|p| p.tags.iter().any(|t| t == tag)),
            Selector::Path(dir) => {
                spec.is_some_and(|p| p.file == *dir || p.file.starts_with(&format!("{}/", dir.trim_end_matches('/'))))
            }
        }
    }
}

/// The pipelines a command works on: all of them, or those selected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    include: Vec<Selector>,
    exclude: Vec<Selector>,
    /// The selectors as given, for messages.
    shown: String,
}

impl Selection {
    /// From `--select` (and `-target`) and `--exclude` values; each may hold several,
    /// comma- or space-separated.
    pub fn parse(select: &[String], exclude: &[String]) -> Result<Selection, SelectorError> {
        let split = |v: &[String]| -> Result<Vec<Selector>, SelectorError> {
            v.iter().flat_map(|s| s.split([',', ' ']).filter(|x| !x.is_empty())).map(Selector::parse).collect()
        };
        let (include, exclude_sel) = (split(select)?, split(exclude)?);
        let mut shown = Vec::new();
        if !select.is_empty() {
            shown.push(format!("--select {}", select.join(",")));
        }
        if !exclude.is_empty() {
            shown.push(format!("--exclude {}", exclude.join(",")));
        }
        Ok(Selection { include, exclude: exclude_sel, shown: shown.join(" ") })
    }

    /// Whether every pipeline is selected.
    pub fn is_all(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// The selectors as given (`--select tag:billing --exclude orders`).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether pipeline `name` (with its spec, when there is one) is selected.
    pub fn matches(&self, name: &str, spec: Option<&Pipeline>) -> bool {
        (self.include.is_empty() || self.include.iter().any(|s| s.matches(name, spec)))
            && !self.exclude.iter().any(|s| s.matches(name, spec))
    }

    /// A selector of `--select` that matches none of `names` (with their specs): said
    /// instead of planning nothing.
    pub fn unmatched<'a>(
        &self,
        names: impl Iterator<Item = (&'a str, Option<&'a Pipeline>)> + Clone,
    ) -> Option<String> {
        self.include.iter().find(|s| !names.clone().any(|(n, p)| s.matches(n, p))).map(|s| match s {
            Selector::Name(n) => {
                let near = crate::diag::suggest(n, names.clone().map(|(n, _)| n));
                format!(
                    "`{n}` matches no pipeline{}",
                    near.map(|m| format!(" (did you mean `{m}`?)")).unwrap_or_default()
                )
            }
            Selector::Tag(t) => format!("`tag:{t}` matches no pipeline: no spec has `tags = [\"{t}\"]`"),
            Selector::Path(p) => format!("`path:{p}` matches no pipeline: no spec is under {p}"),
        })
    }
}

/// `*` (any run) and `?` (one character) wildcard match, in time linear in the text for
/// each star (greedy with one backtrack point).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("orders", "orders"));
        assert!(!glob("orders", "orders_v2"));
        assert!(glob("orders*", "orders_v2"));
        assert!(glob("*_v?", "orders_v2"));
        assert!(glob("*", ""));
        assert!(!glob("a*b", "acbd"));
        assert!(glob("a*b*c", "axxbyyc"));
    }

    #[test]
    fn selectors_parse_and_say_what_is_wrong() {
        let s = Selection::parse(&["orders,tag:billing".into()], &["path:pipelines/old".into()]).unwrap();
        assert_eq!(s.include, [Selector::Name("orders".into()), Selector::Tag("billing".into())]);
        assert_eq!(s.exclude, [Selector::Path("pipelines/old".into())]);
        assert_eq!(s.shown(), "--select orders,tag:billing --exclude path:pipelines/old");
        let e = Selection::parse(&["tags:x".into()], &[]).unwrap_err();
        assert!(e.to_string().starts_with("unknown selector method `tags:`"), "{e}");
        assert_eq!(Selection::parse(&["tag:".into()], &[]), Err(SelectorError::Empty("tag:".into())));
        assert!(Selection::parse(&[], &[]).unwrap().is_all());
        let only = Selection::parse(&["ordres".into()], &[]).unwrap();
        let names = [("orders", None), ("clickstream", None)];
        assert_eq!(
            only.unmatched(names.iter().copied()).unwrap(),
            "`ordres` matches no pipeline (did you mean `orders`?)"
        );
    }
}
