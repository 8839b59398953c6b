//! Flink SQL column types, their text form, and the one table that maps them to
//! Hologres. Owns nothing else: it does not know JSON, specs or templates.

use std::fmt;

/// A Flink SQL logical type, restricted to what flinkform infers or accepts as a pin.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FlinkType {
    /// `BOOLEAN`
    Boolean,
    /// `INT` (32-bit)
    Int,
    /// `BIGINT` (64-bit)
    BigInt,
    /// `DECIMAL(precision, scale)`
    Decimal(u8, u8),
    /// `DOUBLE`
    Double,
    /// `STRING` (`VARCHAR(2147483647)`)
    String,
    /// `DATE`
    Date,
    /// `TIMESTAMP(p)`, without time zone
    Timestamp(u8),
    /// `TIMESTAMP_LTZ(p)`, an instant
    TimestampLtz(u8),
    /// `ARRAY<elem>`
    Array(Box<FlinkType>),
    /// `MAP<STRING, value>`
    Map(Box<FlinkType>),
    /// `ROW<name type, ...>`
    Row(Vec<(String, FlinkType)>),
}

/// How a Flink type lands in Hologres.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoloType {
    /// The Hologres (PostgreSQL) type name as written in DDL.
    pub sql: String,
    /// True when the Hologres column is `jsonb` and Flink feeds it a JSON text STRING.
    pub json: bool,
}

/// How JSON integers are typed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Integers {
    /// BIGINT whatever the sample's range (what VVR's Kafka JSON catalog, Spark, DuckDB
    /// and Arrow infer), so that ids passing 2^31 later still fit.
    BigInt,
    /// The narrowest type that holds every value seen (INT when they fit): the rule of
    /// pipelines recorded before BIGINT became the default, kept so that their columns
    /// do not change type.
    #[default]
    Narrowest,
}

impl Integers {
    /// The rule of records that do not say (made before the field existed).
    pub fn is_narrowest(&self) -> bool {
        *self == Integers::Narrowest
    }
}

impl FlinkType {
    /// This type with every INT made BIGINT, nested ones too.
    pub fn promote_ints(self) -> FlinkType {
        match self {
            FlinkType::Int => FlinkType::BigInt,
            FlinkType::Array(e) => FlinkType::Array(Box::new(e.promote_ints())),
            FlinkType::Map(v) => FlinkType::Map(Box::new(v.promote_ints())),
            FlinkType::Row(fields) => FlinkType::Row(fields.into_iter().map(|(k, t)| (k, t.promote_ints())).collect()),
            t => t,
        }
    }

    /// The Hologres column type for this Flink type: the single mapping table.
    /// Arrays map to one-dimensional Hologres arrays of the supported element types;
    /// everything nested beyond that becomes `jsonb`.
    pub fn hologres(&self) -> HoloType {
        let plain = |s: &str| HoloType { sql: s.to_string(), json: false };
        match self {
            Self::Boolean => plain("bool"),
            Self::Int => plain("int4"),
            Self::BigInt => plain("int8"),
            Self::Decimal(p, s) => plain(&format!("numeric({p},{s})")),
            Self::Double => plain("float8"),
            Self::String => plain("text"),
            Self::Date => plain("date"),
            Self::Timestamp(_) => plain("timestamp"),
            Self::TimestampLtz(_) => plain("timestamptz"),
            Self::Array(elem) => match elem.as_ref() {
                Self::Boolean | Self::Int | Self::BigInt | Self::Double | Self::String => {
                    plain(&format!("{}[]", elem.hologres().sql))
                }
                _ => HoloType { sql: "jsonb".into(), json: true },
            },
            Self::Map(_) | Self::Row(_) => HoloType { sql: "jsonb".into(), json: true },
        }
    }

    /// The Flink type that reads a Hologres (PostgreSQL) column exactly, from what
    /// `information_schema.columns` says of it (`udt_name`, numeric precision and scale,
    /// datetime precision), and the column's type as SQL for messages. `None` for a type
    /// flinkform has no Flink type for (`float4`, `int2`... read as is only by the types
    /// VVR's connector maps them to).
    pub fn of_postgres(
        udt: &str,
        precision: Option<i32>,
        scale: Option<i32>,
        datetime: Option<i32>,
    ) -> (String, Option<FlinkType>) {
        let p = |d: i32| datetime.unwrap_or(d).clamp(0, 6) as u8;
        let ty = match udt {
            "bool" => Some(Self::Boolean),
            "int4" => Some(Self::Int),
            "int8" => Some(Self::BigInt),
            "float8" => Some(Self::Double),
            "text" | "varchar" | "bpchar" | "json" | "jsonb" => Some(Self::String),
            "date" => Some(Self::Date),
            "timestamp" => Some(Self::Timestamp(p(6))),
            "timestamptz" => Some(Self::TimestampLtz(p(6))),
            "numeric" => match (precision, scale) {
                (Some(pr @ 1..=38), Some(sc)) if (0..=pr).contains(&sc) => Some(Self::Decimal(pr as u8, sc as u8)),
                _ => None,
            },
            a if a.starts_with('_') => match Self::of_postgres(&a[1..], None, None, None).1 {
                Some(e @ (Self::Boolean | Self::Int | Self::BigInt | Self::Double | Self::String)) => {
                    Some(Self::Array(Box::new(e)))
                }
                _ => None,
            },
            _ => None,
        };
        let sql = match (udt, precision, scale) {
            ("numeric", Some(pr), Some(sc)) => format!("numeric({pr},{sc})"),
            (a, _, _) if a.starts_with('_') => format!("{}[]", &a[1..]),
            (u, _, _) => u.to_string(),
        };
        (sql, ty)
    }

    /// Whether a value of this type may be (part of) a Hologres primary key.
    pub fn can_be_primary_key(&self) -> bool {
        matches!(
            self,
            Self::Boolean
                | Self::Int
                | Self::BigInt
                | Self::String
                | Self::Date
                | Self::Timestamp(_)
                | Self::TimestampLtz(_)
        )
    }

    /// Parses a type as written in a spec (`"TIMESTAMP_LTZ(3)"`, `"ARRAY<INT>"`, ...).
    pub fn parse(text: &str) -> Result<FlinkType, TypeError> {
        let mut p = TypeParser { s: text.as_bytes(), i: 0 };
        let t = p.ty()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(TypeError::Trailing(text[p.i..].to_string()));
        }
        Ok(t)
    }
}

/// Why a type's text is not a Flink type flinkform knows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// Text after a whole type.
    #[error("unexpected `{0}` after the type")]
    Trailing(String),
    /// A character the syntax needs is missing.
    #[error("expected `{what}` at offset {at}")]
    Expected {
        /// The character.
        what: char,
        /// Where (a byte offset).
        at: usize,
    },
    /// A precision or scale that is not a number.
    #[error("expected a number, found `{0}`")]
    Number(String),
    /// A ROW field without a name.
    #[error("expected a field name")]
    FieldName,
    /// A backquoted field name without its closing backquote.
    #[error("unterminated `quoted` field name")]
    Unterminated,
    /// A timestamp precision above the maximum.
    #[error("precision {precision} is above the maximum {max}")]
    Precision {
        /// The precision given.
        precision: u8,
        /// The largest Flink takes.
        max: u8,
    },
    /// A DECIMAL Flink cannot hold.
    #[error("DECIMAL({precision}, {scale}) needs 1 <= precision <= 38 and scale <= precision")]
    Decimal {
        /// The precision given.
        precision: u8,
        /// The scale given.
        scale: u8,
    },
    /// A MAP whose keys are not strings.
    #[error("only MAP<STRING, T> is supported (JSON object keys are strings)")]
    MapKey,
    /// No type name.
    #[error("expected a type name; known types: {TYPE_NAMES}")]
    NoName,
    /// A type name flinkform does not know.
    #[error("unknown type `{0}`; known types: {TYPE_NAMES}")]
    Unknown(String),
}

/// The longest identifier Flink's SQL parser takes ("Length of identifier ... must be
/// less than or equal to 256 characters", Flink 1.20).
pub const MAX_IDENTIFIER_CHARS: usize = 256;

/// Whether Flink SQL can name a JSON key as a column or ROW field: a backtick-quoted
/// identifier cannot be empty, hold a line break or pass [`MAX_IDENTIFIER_CHARS`].
pub fn nameable(key: &str) -> bool {
    !key.is_empty() && !key.contains(['\n', '\r']) && key.chars().count() <= MAX_IDENTIFIER_CHARS
}

/// PostgreSQL's reserved key words ("SQL Key Words", PostgreSQL 16: reserved, and
/// reserved but allowed as a function or type name): none can name a column unquoted.
pub const PG_RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// Whether PostgreSQL reads `name` unquoted as itself: lower case ASCII letters, digits,
/// `_` and `$`, not starting with a digit or `$`, at most 63 bytes, not a reserved word.
/// Flink's JDBC connector writes names into its statements as they are.
pub fn plain_pg_ident(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && name.len() <= 63
        && PG_RESERVED.binary_search(&name).is_err()
}

/// Quotes an identifier for PostgreSQL and Hologres: double quotes, inner ones doubled.
pub fn quote_pg_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an identifier for Flink SQL: backticks, with inner backticks doubled.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

impl fmt::Display for FlinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Boolean => f.write_str("BOOLEAN"),
            Self::Int => f.write_str("INT"),
            Self::BigInt => f.write_str("BIGINT"),
            Self::Decimal(p, s) => write!(f, "DECIMAL({p}, {s})"),
            Self::Double => f.write_str("DOUBLE"),
            Self::String => f.write_str("STRING"),
            Self::Date => f.write_str("DATE"),
            Self::Timestamp(p) => write!(f, "TIMESTAMP({p})"),
            Self::TimestampLtz(p) => write!(f, "TIMESTAMP_LTZ({p})"),
            Self::Array(e) => write!(f, "ARRAY<{e}>"),
            Self::Map(v) => write!(f, "MAP<STRING, {v}>"),
            Self::Row(fields) => {
                f.write_str("ROW<")?;
                for (i, (name, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{} {t}", quote_ident(name))?;
                }
                f.write_str(">")
            }
        }
    }
}

/// Names accepted by [`FlinkType::parse`], for error messages.
pub const TYPE_NAMES: &str = "BOOLEAN, INT, BIGINT, DECIMAL(p, s), DOUBLE, STRING, DATE, \
TIMESTAMP(p), TIMESTAMP_LTZ(p), ARRAY<T>, MAP<STRING, T>, ROW<name T, ...>";

struct TypeParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl TypeParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), TypeError> {
        if self.eat(c) { Ok(()) } else { Err(TypeError::Expected { what: c as char, at: self.i }) }
    }

    fn word(&mut self) -> String {
        self.ws();
        let start = self.i;
        while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_') {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).to_ascii_uppercase()
    }

    fn number(&mut self) -> Result<u8, TypeError> {
        let w = self.word();
        w.parse::<u8>().map_err(|_| TypeError::Number(w))
    }

    fn ident(&mut self) -> Result<String, TypeError> {
        self.ws();
        if self.s.get(self.i) != Some(&b'`') {
            let start = self.i;
            let w = self.word();
            if w.is_empty() {
                return Err(TypeError::FieldName);
            }
            return Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned());
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.i) {
                None => return Err(TypeError::Unterminated),
                Some(b'`') if self.s.get(self.i + 1) == Some(&b'`') => {
                    out.push(b'`');
                    self.i += 2;
                }
                Some(b'`') => {
                    self.i += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(&c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn precision(&mut self, default: u8, max: u8) -> Result<u8, TypeError> {
        if !self.eat(b'(') {
            return Ok(default);
        }
        let p = self.number()?;
        self.expect(b')')?;
        if p > max {
            return Err(TypeError::Precision { precision: p, max });
        }
        Ok(p)
    }

    fn ty(&mut self) -> Result<FlinkType, TypeError> {
        let name = self.word();
        Ok(match name.as_str() {
            "BOOLEAN" | "BOOL" => FlinkType::Boolean,
            "INT" | "INTEGER" => FlinkType::Int,
            "BIGINT" => FlinkType::BigInt,
            "DOUBLE" => FlinkType::Double,
            "STRING" => FlinkType::String,
            "VARCHAR" => {
                if self.eat(b'(') {
                    self.word();
                    self.expect(b')')?;
                }
                FlinkType::String
            }
            "DATE" => FlinkType::Date,
            "DECIMAL" | "NUMERIC" => {
                let (mut p, mut s) = (10, 0);
                if self.eat(b'(') {
                    p = self.number()?;
                    if self.eat(b',') {
                        s = self.number()?;
                    }
                    self.expect(b')')?;
                }
                if !(1..=38).contains(&p) || s > p {
                    return Err(TypeError::Decimal { precision: p, scale: s });
                }
                FlinkType::Decimal(p, s)
            }
            "TIMESTAMP" => FlinkType::Timestamp(self.precision(6, 9)?),
            "TIMESTAMP_LTZ" => FlinkType::TimestampLtz(self.precision(6, 9)?),
            "ARRAY" => {
                self.expect(b'<')?;
                let e = self.ty()?;
                self.expect(b'>')?;
                FlinkType::Array(Box::new(e))
            }
            "MAP" => {
                self.expect(b'<')?;
                let k = self.ty()?;
                if k != FlinkType::String {
                    return Err(TypeError::MapKey);
                }
                self.expect(b',')?;
                let v = self.ty()?;
                self.expect(b'>')?;
                FlinkType::Map(Box::new(v))
            }
            "ROW" => {
                self.expect(b'<')?;
                let mut fields = Vec::new();
                loop {
                    let n = self.ident()?;
                    let t = self.ty()?;
                    fields.push((n, t));
                    if !self.eat(b',') {
                        break;
                    }
                }
                self.expect(b'>')?;
                FlinkType::Row(fields)
            }
            "" => return Err(TypeError::NoName),
            other => return Err(TypeError::Unknown(other.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::FlinkType::{self, *};
    use super::{PG_RESERVED, TypeError, plain_pg_ident};

    #[test]
    fn plain_postgresql_names_are_lower_case_and_not_reserved() {
        assert!(PG_RESERVED.is_sorted(), "binary search needs the words sorted");
        for name in ["order_id", "_x", "a$1", "customer", "name"] {
            assert!(plain_pg_ident(name), "{name}");
        }
        for name in ["user", "order", "Name", "1st", "a b", "a.b", "$a", "", "ü", &"x".repeat(64)] {
            assert!(!plain_pg_ident(name), "{name}");
        }
    }

    /// The Flink → Hologres mapping, one entry per row: the table the docs promise.
    const MAPPING: &[(&str, &str, bool)] = &[
        ("BOOLEAN", "bool", false),
        ("INT", "int4", false),
        ("BIGINT", "int8", false),
        ("DECIMAL(38, 0)", "numeric(38,0)", false),
        ("DOUBLE", "float8", false),
        ("STRING", "text", false),
        ("DATE", "date", false),
        ("TIMESTAMP(3)", "timestamp", false),
        ("TIMESTAMP_LTZ(3)", "timestamptz", false),
        ("ARRAY<INT>", "int4[]", false),
        ("ARRAY<BIGINT>", "int8[]", false),
        ("ARRAY<DOUBLE>", "float8[]", false),
        ("ARRAY<BOOLEAN>", "bool[]", false),
        ("ARRAY<STRING>", "text[]", false),
        ("ARRAY<TIMESTAMP(3)>", "jsonb", true),
        ("ARRAY<ARRAY<INT>>", "jsonb", true),
        ("ARRAY<ROW<`a` INT>>", "jsonb", true),
        ("MAP<STRING, INT>", "jsonb", true),
        ("ROW<`a` INT, `b c` STRING>", "jsonb", true),
    ];

    #[test]
    fn each_mapping_entry() {
        for (flink, holo, json) in MAPPING {
            let t = FlinkType::parse(flink).unwrap();
            assert_eq!(t.to_string(), *flink, "display round-trips");
            let h = t.hologres();
            assert_eq!((h.sql.as_str(), h.json), (*holo, *json), "{flink}");
        }
    }

    /// Meta-test: every variant of the enum has at least one row in the table.
    #[test]
    fn mapping_covers_every_variant() {
        let variant = |t: &FlinkType| std::mem::discriminant(t);
        let covered: Vec<_> = MAPPING.iter().map(|(f, _, _)| variant(&FlinkType::parse(f).unwrap())).collect();
        for t in [
            Boolean,
            Int,
            BigInt,
            Decimal(1, 0),
            Double,
            String,
            Date,
            Timestamp(3),
            TimestampLtz(3),
            Array(Box::new(Int)),
            Map(Box::new(Int)),
            Row(vec![]),
        ] {
            assert!(covered.contains(&variant(&t)), "{t} has no mapping row");
        }
    }

    #[test]
    fn parse_aliases_and_errors() {
        assert_eq!(FlinkType::parse("integer").unwrap(), Int);
        assert_eq!(FlinkType::parse("VARCHAR(20)").unwrap(), String);
        assert_eq!(FlinkType::parse("ROW<`a``b` INT>").unwrap(), Row(vec![("a`b".into(), Int)]));
        assert_eq!(FlinkType::parse("DECIMAL(40, 0)"), Err(TypeError::Decimal { precision: 40, scale: 0 }));
        assert_eq!(FlinkType::parse("MAP<INT, INT>"), Err(TypeError::MapKey));
        assert_eq!(FlinkType::parse("TEXT"), Err(TypeError::Unknown("TEXT".into())));
        assert_eq!(FlinkType::parse("INT x"), Err(TypeError::Trailing("x".into())));
    }
}
