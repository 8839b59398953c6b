//! A typed walk over parsed TOML that keeps spans and collects every problem: unknown
//! keys (with the nearest valid one), wrong types, missing keys. A section may be
//! layered (a pipeline's table over the `[defaults]` of flinkform.toml): a key is read
//! from the first layer that has it, and errors point into the file it came from.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::{Diagnostic, Source, Spot, suggest};

/// What a walk collects: every diagnostic, and where each key read was written
/// (`schema.primary_key` → position), so later checks can point at the spec.
#[derive(Default)]
pub struct Ctx {
    /// Problems found.
    pub diags: RefCell<Vec<Diagnostic>>,
    /// Positions of the keys read since the last [`Ctx::take_locations`].
    locations: RefCell<BTreeMap<String, Spot>>,
}

impl Ctx {
    /// The positions recorded so far, leaving none.
    pub fn take_locations(&self) -> BTreeMap<String, Spot> {
        std::mem::take(&mut *self.locations.borrow_mut())
    }
}

/// One table of one file.
#[derive(Clone)]
pub struct Layer<'a> {
    src: &'a Source,
    table: &'a DeTable<'a>,
    span: Range<usize>,
}

impl<'a> Layer<'a> {
    /// A table and the span that stands for it (its header or inline braces).
    pub fn new(src: &'a Source, table: &'a DeTable<'a>, span: Range<usize>) -> Layer<'a> {
        Layer { src, table, span }
    }
}

/// A value read from a layer, with where it came from.
pub struct Found<'a> {
    /// The file it is in.
    pub src: &'a Source,
    /// The value and its span.
    pub value: &'a Spanned<DeValue<'a>>,
}

impl Found<'_> {
    /// An error pointing at this value.
    pub fn error(&self, message: impl Into<String>) -> Diagnostic {
        self.src.error(self.value.span(), message)
    }

    /// A warning pointing at this value.
    pub fn warning(&self, message: impl Into<String>) -> Diagnostic {
        let mut d = self.error(message);
        d.severity = crate::diag::Severity::Warning;
        d
    }

    /// An error pointing at this value, which is a secret: the line is shown masked.
    pub fn secret_error(&self, message: impl Into<String>) -> Diagnostic {
        self.src.secret_error(self.value.span(), message)
    }
}

/// A (possibly layered) TOML table being read.
pub struct Section<'a, 'd> {
    path: String,
    layers: Vec<Layer<'a>>,
    known: RefCell<Vec<&'static str>>,
    ctx: &'d Ctx,
}

/// A scalar as option text (strings as they are, numbers as written); `None` otherwise.
pub fn scalar_text(v: &DeValue<'_>) -> Option<String> {
    match v {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) => Some(i.as_str().to_string()),
        DeValue::Float(f) => Some(f.as_str().to_string()),
        DeValue::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A short name of a TOML value's type for messages.
pub(super) fn kind(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

impl<'a, 'd> Section<'a, 'd> {
    /// A section named `path` (for messages) over `layers`, highest priority first.
    pub fn new(path: impl Into<String>, layers: Vec<Layer<'a>>, ctx: &'d Ctx) -> Self {
        Section { path: path.into(), layers, known: RefCell::new(Vec::new()), ctx }
    }

    /// Records a diagnostic.
    pub fn report(&self, d: Diagnostic) {
        self.ctx.diags.borrow_mut().push(d);
    }

    /// An error pointing at the section itself (its first layer).
    pub fn error_here(&self, message: impl Into<String>) -> Diagnostic {
        match self.layers.first() {
            Some(l) => l.src.error(l.span.clone(), message),
            None => Diagnostic::error(message),
        }
    }

    /// The section's name as written in messages (`[source]`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw value of `key` from the first layer that has it; marks `key` known.
    pub fn get(&self, key: &'static str) -> Option<Found<'a>> {
        self.known.borrow_mut().push(key);
        let found = self.layers.iter().find_map(|l| l.table.get(key).map(|value| Found { src: l.src, value }))?;
        let dotted = format!("{}.{key}", self.path.trim_start_matches('[').trim_end_matches(']'));
        self.ctx.locations.borrow_mut().entry(dotted).or_insert_with(|| Spot::new(found.src, found.value.span()));
        Some(found)
    }

    fn typed<T>(&self, key: &'static str, want: &str, conv: impl Fn(&DeValue<'a>) -> Option<T>) -> Option<T> {
        let f = self.get(key)?;
        let got = conv(f.value.get_ref());
        if got.is_none() {
            self.report(f.error(format!("`{key}` in {} must be {want}, found {}", self.path, kind(f.value.get_ref()))));
        }
        got
    }

    /// A string value.
    pub fn string(&self, key: &'static str) -> Option<String> {
        self.typed(key, "a string", |v| v.as_str().map(str::to_string))
    }

    /// A string value that must be present.
    pub fn required_string(&self, key: &'static str) -> Option<String> {
        if self.layers.iter().all(|l| l.table.get(key).is_none()) {
            self.known.borrow_mut().push(key);
            self.report(self.error_here(format!("missing `{key}` in {}", self.path)));
            return None;
        }
        self.string(key)
    }

    /// A boolean value.
    pub fn bool(&self, key: &'static str) -> Option<bool> {
        self.typed(key, "a boolean (true or false)", DeValue::as_bool)
    }

    /// A non-negative integer.
    pub fn uint(&self, key: &'static str) -> Option<u64> {
        self.typed(key, "a non-negative integer", |v| v.as_integer().and_then(|i| i.as_str().parse::<u64>().ok()))
    }

    /// A number (integer or float).
    pub fn number(&self, key: &'static str) -> Option<f64> {
        self.typed(key, "a number", |v| match v {
            DeValue::Integer(i) => i.as_str().parse().ok(),
            DeValue::Float(f) => f.as_str().parse().ok(),
            _ => None,
        })
    }

    /// A duration written like `"10s"` or `"500ms"`.
    pub fn duration(&self, key: &'static str) -> Option<std::time::Duration> {
        let f = self.get(key)?;
        match f.value.get_ref().as_str().map(humantime::parse_duration) {
            Some(Ok(d)) => Some(d),
            _ => {
                self.report(
                    f.error(format!("`{key}` in {} must be a duration such as \"10s\" or \"500ms\"", self.path)),
                );
                None
            }
        }
    }

    /// One of `values` by its spelling (as [`Section::choice`]).
    pub fn spelled<T: Copy>(&self, key: &'static str, values: &[(&'static str, T)]) -> Option<T> {
        let names: Vec<&'static str> = values.iter().map(|(n, _)| *n).collect();
        let name = self.choice(key, &names)?;
        values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// An array of strings.
    pub fn string_list(&self, key: &'static str) -> Option<Vec<String>> {
        self.typed(key, "an array of strings", |v| {
            v.as_array()?.iter().map(|x| x.get_ref().as_str().map(str::to_string)).collect()
        })
    }

    /// A table of scalar values, each rendered as a string (e.g. Flink configuration).
    pub fn string_map(&self, key: &'static str) -> Option<Vec<(String, String)>> {
        self.typed(key, "a table of strings, numbers or booleans", |v| {
            v.as_table()?.iter().map(|(k, x)| Some((k.get_ref().to_string(), scalar_text(x.get_ref())?))).collect()
        })
    }

    /// A string that must be one of `allowed`.
    pub fn choice(&self, key: &'static str, allowed: &[&'static str]) -> Option<&'static str> {
        let f = self.get(key)?;
        let s = f.value.get_ref().as_str();
        match s.and_then(|s| allowed.iter().find(|a| a.eq_ignore_ascii_case(s))) {
            Some(a) => Some(a),
            None => {
                let mut d = f.error(format!("`{key}` in {} must be one of: {}", self.path, allowed.join(", ")));
                if let Some(near) = s.and_then(|s| suggest(s, allowed.iter().copied())) {
                    d = d.with_help(format!("did you mean `{near}`?"));
                }
                self.report(d);
                None
            }
        }
    }

    /// A sub-table (`[a.b]` or `b = { ... }`) as a section, layered like this one.
    pub fn section(&self, key: &'static str) -> Section<'a, 'd> {
        self.known.borrow_mut().push(key);
        let mut layers = Vec::new();
        for l in &self.layers {
            if let Some(v) = l.table.get(key) {
                match v.get_ref().as_table() {
                    Some(t) => layers.push(Layer::new(l.src, t, v.span())),
                    None => self.report(l.src.error(
                        v.span(),
                        format!("`{key}` in {} must be a table, found {}", self.path, kind(v.get_ref())),
                    )),
                }
            }
        }
        Section::new(self.child_path(key), layers, self.ctx)
    }

    fn child_path(&self, key: &str) -> String {
        match self.path.strip_suffix(']') {
            Some(p) => format!("{p}.{key}]"),
            None => format!("[{key}]"),
        }
    }

    /// The section's layers, to stack under another section's.
    pub fn into_layers(self) -> Vec<Layer<'a>> {
        self.layers
    }

    /// The shared collector.
    pub fn ctx(&self) -> &'d Ctx {
        self.ctx
    }

    /// Whether the first layer that has `key` holds an array there (does not mark it known).
    pub fn is_array(&self, key: &str) -> bool {
        self.layers.iter().find_map(|l| l.table.get(key)).is_some_and(|v| v.get_ref().as_array().is_some())
    }

    /// The string at `key` in the first layer that has it, without marking it known.
    pub fn peek_str(&self, key: &str) -> Option<&'a str> {
        self.layers.iter().find_map(|l| l.table.get(key)).and_then(|v| v.get_ref().as_str())
    }

    /// This section with `under` as lower layers (keys it has read stay known).
    pub fn stacked(&self, under: Vec<Layer<'a>>) -> Section<'a, 'd> {
        let mut layers = self.layers.clone();
        layers.extend(under);
        Section { path: self.path.clone(), layers, known: self.known.clone(), ctx: self.ctx }
    }

    /// An array of tables (`[[lookup]]`) from the first layer that has it (arrays do not
    /// merge across layers), each element a section named `[lookup.N]`, counted from 1.
    pub fn tables(&self, key: &'static str) -> Vec<Section<'a, 'd>> {
        self.known.borrow_mut().push(key);
        let Some((l, v)) = self.layers.iter().find_map(|l| l.table.get(key).map(|v| (l, v))) else {
            return Vec::new();
        };
        let Some(items) = v.get_ref().as_array() else {
            self.report(l.src.error(
                v.span(),
                format!("`{key}` in {} must be an array of tables ([[{key}]]), found {}", self.path, kind(v.get_ref())),
            ));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.get_ref().as_table() {
                Some(t) => out.push(Section::new(
                    self.child_path(&format!("{key}.{}", i + 1)),
                    vec![Layer::new(l.src, t, item.span())],
                    self.ctx,
                )),
                None => self.report(l.src.error(
                    item.span(),
                    format!("each `{key}` in {} must be a table, found {}", self.path, kind(item.get_ref())),
                )),
            }
        }
        out
    }

    /// The keys of a table-valued entry of the first layer that has it, each as a section
    /// (`columns.ts = { ... }`): returns (name, section, span of the key).
    pub fn entries(&self, key: &'static str) -> Vec<(String, Section<'a, 'd>)> {
        let sub = self.section(key);
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for l in &sub.layers {
            for (k, v) in l.table.iter() {
                let name = k.get_ref().to_string();
                if seen.contains(&name) {
                    continue;
                }
                seen.push(name.clone());
                let dotted = format!("{}.{name}", sub.path.trim_start_matches('[').trim_end_matches(']'));
                self.ctx.locations.borrow_mut().entry(dotted).or_insert_with(|| Spot::new(l.src, k.span()));
                match v.get_ref().as_table() {
                    Some(t) => out.push((
                        name.clone(),
                        Section::new(sub.child_path(&name), vec![Layer::new(l.src, t, k.span())], self.ctx),
                    )),
                    None => self.report(l.src.error(
                        v.span(),
                        format!("`{name}` in {} must be a table, found {}", sub.path, kind(v.get_ref())),
                    )),
                }
            }
        }
        out
    }

    /// A table of connector options (`[source.options]`), flattened: nested tables join
    /// their keys with dots (`properties.max.poll.records = 500` is one option), a table
    /// holding `secret` is a value. The first layer that has an option wins; each comes
    /// back with its value, in key order. Marks `key` known.
    pub fn flat_options(&self, key: &'static str) -> Vec<(String, Found<'a>)> {
        fn walk<'a>(src: &'a Source, prefix: &str, t: &'a DeTable<'a>, out: &mut BTreeMap<String, Found<'a>>) {
            for (k, v) in t.iter() {
                let name =
                    if prefix.is_empty() { k.get_ref().to_string() } else { format!("{prefix}.{}", k.get_ref()) };
                match v.get_ref().as_table() {
                    Some(inner) if inner.get("secret").is_none() => walk(src, &name, inner, out),
                    _ => {
                        out.entry(name).or_insert(Found { src, value: v });
                    }
                }
            }
        }
        let sub = self.section(key);
        let mut out = BTreeMap::new();
        for l in &sub.layers {
            walk(l.src, "", l.table, &mut out);
        }
        let base = sub.path.trim_start_matches('[').trim_end_matches(']').to_string();
        let mut locations = self.ctx.locations.borrow_mut();
        for (k, f) in &out {
            locations.entry(format!("{base}.{k}")).or_insert_with(|| Spot::new(f.src, f.value.span()));
        }
        out.into_iter().collect()
    }

    /// Whether any layer has `key` (does not mark it known).
    pub fn has(&self, key: &str) -> bool {
        self.layers.iter().any(|l| l.table.get(key).is_some())
    }

    /// Reports every key no accessor asked for, suggesting the nearest known one.
    pub fn finish(&self) {
        let known = self.known.borrow();
        for l in &self.layers {
            for (k, _) in l.table.iter() {
                let name = k.get_ref().as_ref();
                if known.contains(&name) {
                    continue;
                }
                let mut d = l.src.error(k.span(), format!("unknown key `{name}` in {}", self.path));
                d = match suggest(name, known.iter().copied()) {
                    Some(near) => d.with_help(format!("did you mean `{near}`?")),
                    None => d.with_help(format!("known keys here: {}", known.join(", "))),
                };
                self.report(d);
            }
        }
    }
}

/// Parses a TOML file into a spanned table, reporting every syntax error.
pub fn parse<'a>(src: &'a Source, ctx: &Ctx) -> Option<Spanned<DeTable<'a>>> {
    let (table, errors) = DeTable::parse_recoverable(&src.text);
    for e in &errors {
        let span = e.span().unwrap_or(0..0);
        ctx.diags.borrow_mut().push(src.error(span, format!("invalid TOML: {}", e.message())));
    }
    errors.is_empty().then_some(table)
}
