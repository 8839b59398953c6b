//! The spec as plans compare and show it: each setting under its TOML path (`source.topic`,
//! `sink["public.orders_agg"].table`), its value in TOML's own spelling (`"10s"`, `4`,
//! `true`, `["a", "b"]`, `{ secret = "name" }`). A value that is not set is not noted, so a
//! change reads "set to", "→" or "removed" just as the spec's text changed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use super::{Credential, OnConflict, OnFailure, SecretRef, Upgrade};
use crate::infer::TsStandard;

/// How the settings in a pipeline's record are written: records of an older form are
/// compared by what the pipeline renders, not setting by setting.
pub const SETTINGS_FORM: u32 = 2;

/// The settings noted while one pipeline's spec is read.
#[derive(Default)]
pub(super) struct Settings(RefCell<BTreeMap<String, String>>);

impl Settings {
    /// Notes `value` under `key`, unless it is not set.
    pub(super) fn set(&self, key: impl Into<String>, value: impl Shown) {
        if let Some(text) = value.shown() {
            self.0.borrow_mut().insert(key.into(), text);
        }
    }

    /// Notes each of `other`'s settings under `prefix.`.
    pub(super) fn extend_under(&self, prefix: &str, other: Settings) {
        let mut mine = self.0.borrow_mut();
        for (k, v) in other.0.into_inner() {
            mine.insert(format!("{prefix}.{k}"), v);
        }
    }

    pub(super) fn into_map(self) -> BTreeMap<String, String> {
        self.0.into_inner()
    }
}

/// A spec value in TOML's spelling; `None` when it is not set.
pub(super) trait Shown {
    fn shown(&self) -> Option<String>;
}

/// One part of a TOML key: bare where TOML allows it, quoted otherwise
/// (`"public.orders_agg"`, `"execution.checkpointing.interval"`).
pub fn key(part: &str) -> String {
    let bare = !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { part.to_string() } else { toml::Value::String(part.to_string()).to_string() }
}

/// The prefix of a sink's settings, but the first's (`sink`): `sink."public.orders_agg"`.
pub fn sink_prefix(label: &str) -> String {
    format!("sink.{}", key(label))
}

/// A TOML string literal.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

impl Shown for str {
    fn shown(&self) -> Option<String> {
        Some(quoted(self))
    }
}

impl Shown for String {
    fn shown(&self) -> Option<String> {
        self.as_str().shown()
    }
}

impl Shown for bool {
    fn shown(&self) -> Option<String> {
        Some(self.to_string())
    }
}

impl Shown for u64 {
    fn shown(&self) -> Option<String> {
        Some(self.to_string())
    }
}

impl Shown for usize {
    fn shown(&self) -> Option<String> {
        Some(self.to_string())
    }
}

impl Shown for f64 {
    fn shown(&self) -> Option<String> {
        Some(toml::Value::Float(*self).to_string())
    }
}

impl Shown for Duration {
    /// As the spec writes durations: `"90s"`, `"250ms"`.
    fn shown(&self) -> Option<String> {
        Some(quoted(&humantime::format_duration(*self).to_string().replace(' ', "")))
    }
}

impl Shown for [String] {
    fn shown(&self) -> Option<String> {
        let items: Vec<String> = self.iter().map(|s| quoted(s)).collect();
        Some(format!("[{}]", items.join(", ")))
    }
}

impl Shown for Vec<String> {
    fn shown(&self) -> Option<String> {
        self.as_slice().shown()
    }
}

impl<T: Shown + ?Sized> Shown for &T {
    fn shown(&self) -> Option<String> {
        (**self).shown()
    }
}

impl<T: Shown> Shown for Option<T> {
    fn shown(&self) -> Option<String> {
        self.as_ref().and_then(Shown::shown)
    }
}

impl Shown for SecretRef {
    fn shown(&self) -> Option<String> {
        Some(match &self.env {
            Some(env) => format!("{{ secret = {}, env = {} }}", quoted(&self.name), quoted(env)),
            None => format!("{{ secret = {} }}", quoted(&self.name)),
        })
    }
}

impl Shown for Credential {
    fn shown(&self) -> Option<String> {
        match self {
            Credential::Literal(t) => t.shown(),
            Credential::Secret(r) => r.shown(),
        }
    }
}

/// Enums noted by the name the spec gives them.
macro_rules! shown_by_name {
    ($($t:ty => $name:ident),*) => {$(
        impl Shown for $t {
            fn shown(&self) -> Option<String> {
                Some(quoted(self.$name()))
            }
        }
    )*};
}
shown_by_name!(OnConflict => name, Upgrade => name, OnFailure => name, TsStandard => as_str);

#[cfg(test)]
mod tests {
    use super::{Settings, Shown};
    use crate::spec::SecretRef;
    use std::time::Duration;

    #[test]
    fn values_read_as_the_spec_writes_them() {
        let s = Settings::default();
        s.set("a", "x \"y\"");
        s.set("b", None::<String>);
        s.set("c", vec!["k".to_string(), "l".to_string()]);
        s.set("d", 2.0_f64);
        s.set("e", Duration::from_millis(90_250));
        s.set("f", SecretRef { name: "holo".into(), env: None });
        s.set("g", Some(4_u64));
        let m = s.into_map();
        let shown: Vec<String> = m.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        assert_eq!(
            shown,
            [
                r#"a = 'x "y"'"#,
                r#"c = ["k", "l"]"#,
                "d = 2.0",
                r#"e = "1m30s250ms""#,
                r#"f = { secret = "holo" }"#,
                "g = 4"
            ]
        );
        assert_eq!(true.shown().as_deref(), Some("true"));
        let doc = format!("{}\n{} = 1", shown.join("\n"), ["x", &super::key("a.b c")].join("."));
        let parsed: toml::Table = toml::from_str(&doc).expect("every line is TOML");
        assert_eq!(parsed["x"]["a.b c"].as_integer(), Some(1));
    }
}
