//! Type inference: from sample JSON records to the [`Shape`] of every JSON path, and
//! from shapes to Flink types. Pure: no IO, no clock, no spec knowledge.
//!
//! A [`Shape`] is an element of a join-semilattice (what every value seen at one path
//! has in common) plus evidence counters. Joining shapes is commutative, associative
//! and idempotent on the lattice part, so merging today's sample with the shape
//! recorded in the state only ever adds columns and widens types.

mod scan;
pub mod strings;

use std::collections::BTreeSet;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::types::FlinkType;

pub use scan::{Refusal, observe};

/// Knobs of inference, from `[schema]`.
#[derive(Clone, Debug, PartialEq)]
pub struct InferConfig {
    /// Objects and arrays nested deeper than this become STRING (JSON text).
    pub max_depth: usize,
    /// An object with more distinct keys than this becomes `MAP<STRING, V>`.
    pub map_max_keys: usize,
    /// An object whose keys appear, on average, in fewer than this share of its
    /// occurrences becomes `MAP<STRING, V>`.
    pub map_min_presence: f64,
}

impl Default for InferConfig {
    fn default() -> Self {
        InferConfig { max_depth: 10, map_max_keys: 200, map_min_presence: 0.1 }
    }
}

/// The widest integer seen at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntClass {
    /// Fits in 32 bits.
    Int,
    /// Fits in 64 bits.
    BigInt,
    /// Up to 38 digits.
    Decimal,
    /// More than 38 digits: no Flink number type holds it.
    Huge,
}

/// The digits the numbers with a fraction at a path need as a DECIMAL: the most integer
/// digits and the most fraction digits any one of them has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digits {
    /// Integer digits (leading zeros not counted).
    pub int: u32,
    /// Fraction digits (the scale, after the exponent is applied).
    pub scale: u32,
}

/// What every string at a path allows: the temporal readings (mask of
/// [`strings`] constants, intersected) and the most fraction digits seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrCaps {
    /// Bit mask of temporal readings every string allows.
    pub mask: u8,
    /// The most fraction-of-second digits seen.
    pub digits: u8,
}

impl StrCaps {
    fn join(self, o: StrCaps) -> StrCaps {
        StrCaps { mask: self.mask & o.mask, digits: self.digits.max(o.digits) }
    }
}

/// Field maps with a fast, randomly seeded hasher (keys come from the data; order is
/// insertion order, so output does not depend on the seed).
pub type Fields = IndexMap<String, Shape, foldhash::fast::RandomState>;

/// The fields seen under an object path, in first-seen order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Object {
    /// Child shapes by key.
    pub fields: Fields,
    /// Decided to be a `MAP<STRING, V>` (sticky once set).
    #[serde(default, skip_serializing_if = "is_false")]
    pub map: bool,
    /// The primary keys the source database declared for these rows (a change stream's
    /// `pkNames`); more than one means they disagreed.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub keys: BTreeSet<Vec<String>>,
}

/// How numbers that a DOUBLE cannot hold are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fractions {
    /// As STRING, their text as written: exact where the JSON decoder keeps the text
    /// (Flink 1.18 and later, VVR 11).
    Text,
    /// As DECIMAL(38, s) where every value fits: the one exact reading where the decoder
    /// re-prints numbers in a STRING (Flink 1.17, VVR 8).
    Decimal,
}

/// Evidence counters: how many values of each kind were seen (not part of the lattice).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Values seen at this path, nulls included.
    pub present: u64,
    /// `null` values.
    pub nulls: u64,
    /// `true`/`false` values.
    pub booleans: u64,
    /// Integer literals.
    pub ints: u64,
    /// Numbers with a fraction or an exponent.
    pub fractions: u64,
    /// Strings.
    pub strings: u64,
    /// Strings with some temporal reading.
    pub temporal: u64,
    /// Objects.
    pub objects: u64,
    /// Arrays.
    pub arrays: u64,
    /// Objects or arrays below the depth cap.
    pub deep: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.present += o.present;
        self.nulls += o.nulls;
        self.booleans += o.booleans;
        self.ints += o.ints;
        self.fractions += o.fractions;
        self.strings += o.strings;
        self.temporal += o.temporal;
        self.objects += o.objects;
        self.arrays += o.arrays;
        self.deep += o.deep;
    }
}

/// Everything seen at one JSON path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Shape {
    /// A `null` was seen.
    #[serde(skip_serializing_if = "is_false")]
    pub null: bool,
    /// A boolean was seen.
    #[serde(skip_serializing_if = "is_false")]
    pub boolean: bool,
    /// The widest integer seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub int: Option<IntClass>,
    /// An integer above 2^53 in magnitude was seen.
    #[serde(skip_serializing_if = "is_false")]
    pub int_beyond_double: bool,
    /// A number with a fraction or exponent was seen.
    #[serde(skip_serializing_if = "is_false")]
    pub fraction: bool,
    /// Such a number did not fit a DOUBLE exactly.
    #[serde(skip_serializing_if = "is_false")]
    pub fraction_inexact: bool,
    /// The digits the numbers with a fraction need (unknown, `None`, for a shape
    /// recorded before they were measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraction_digits: Option<Digits>,
    /// What all strings seen allow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string: Option<StrCaps>,
    /// An object or array below the depth cap was seen.
    #[serde(skip_serializing_if = "is_false")]
    pub too_deep: bool,
    /// Object fields, when an object was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<Object>,
    /// Array element shape, when an array was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub array: Option<Box<Shape>>,
    /// The column types the source database declared for this path (a change stream's
    /// envelope, e.g. `mysql:decimal(10,2)`); more than one means they disagreed.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub declared: BTreeSet<String>,
    /// Evidence counters of the sample this shape came from.
    #[serde(skip)]
    pub stats: Stats,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `json.timestamp-format.standard` of a source table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TsStandard {
    /// `yyyy-MM-dd HH:mm:ss[.f]` (Flink's default).
    #[serde(rename = "SQL")]
    Sql,
    /// `yyyy-MM-ddTHH:mm:ss[.f]`.
    #[serde(rename = "ISO-8601")]
    Iso,
}

impl TsStandard {
    /// The option value Flink expects.
    pub fn as_str(self) -> &'static str {
        match self {
            TsStandard::Sql => "SQL",
            TsStandard::Iso => "ISO-8601",
        }
    }

    fn masks(self) -> (u8, u8) {
        match self {
            TsStandard::Sql => (strings::TS_SQL, strings::LTZ_SQL),
            TsStandard::Iso => (strings::TS_ISO, strings::LTZ_ISO),
        }
    }
}

impl Shape {
    /// Joins `o` into `self`: the lattice part is the least upper bound, counters add.
    pub fn join(&mut self, o: &Shape) {
        self.null |= o.null;
        self.boolean |= o.boolean;
        self.int = self.int.max(o.int);
        self.int_beyond_double |= o.int_beyond_double;
        // Unknown digits on either side that saw fractions stay unknown.
        self.fraction_digits = match (self.fraction_digits, o.fraction_digits) {
            (Some(a), Some(b)) => Some(Digits { int: a.int.max(b.int), scale: a.scale.max(b.scale) }),
            (a, None) if !o.fraction => a,
            (None, b) if !self.fraction => b,
            _ => None,
        };
        self.fraction |= o.fraction;
        self.fraction_inexact |= o.fraction_inexact;
        self.string = match (self.string, o.string) {
            (Some(a), Some(b)) => Some(a.join(b)),
            (a, b) => a.or(b),
        };
        self.too_deep |= o.too_deep;
        self.declared.extend(o.declared.iter().cloned());
        if let Some(oo) = &o.object {
            let obj = self.object.get_or_insert_with(Object::default);
            obj.map |= oo.map;
            obj.keys.extend(oo.keys.iter().cloned());
            for (k, v) in &oo.fields {
                match obj.fields.get_mut(k) {
                    Some(mine) => mine.join(v),
                    None => {
                        obj.fields.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        if let Some(oe) = &o.array {
            self.array.get_or_insert_with(Box::default).join(oe);
        }
        self.stats.add(&o.stats);
    }

    /// The same lattice element with all evidence counters zeroed (what the state keeps).
    pub fn without_stats(&self) -> Shape {
        let mut s = self.clone();
        s.clear_stats();
        s
    }

    /// Cuts the shape below `max_depth` (this shape is at `depth`): an object or array
    /// deeper than that becomes JSON text, exactly as if the records had been observed
    /// with that depth cap.
    fn cut(&mut self, depth: usize, max_depth: usize) {
        if depth > max_depth {
            if self.object.take().is_some() | self.array.take().is_some() {
                self.too_deep = true;
                self.stats.deep += self.stats.objects + self.stats.arrays;
                self.stats.objects = 0;
                self.stats.arrays = 0;
            }
            return;
        }
        if let Some(o) = &mut self.object {
            o.fields.values_mut().for_each(|f| f.cut(depth + 1, max_depth));
        }
        if let Some(e) = &mut self.array {
            e.cut(depth + 1, max_depth);
        }
    }

    fn clear_stats(&mut self) {
        self.stats = Stats::default();
        if let Some(o) = &mut self.object {
            o.fields.values_mut().for_each(Shape::clear_stats);
        }
        if let Some(e) = &mut self.array {
            e.clear_stats();
        }
    }

    /// Marks objects as maps where the evidence says so (too many keys, or keys present
    /// in too few occurrences on average). Run once on a fresh sample, before merging.
    pub fn decide_maps(&mut self, cfg: &InferConfig) {
        if let Some(o) = &mut self.object {
            let n = o.fields.len();
            let occurrences = self.stats.objects.max(1) as f64;
            let avg = o.fields.values().map(|f| f.stats.present as f64 / occurrences).sum::<f64>() / n.max(1) as f64;
            if n > cfg.map_max_keys || (n > 0 && avg < cfg.map_min_presence && self.stats.objects > 0) {
                o.map = true;
            }
            o.fields.values_mut().for_each(|f| f.decide_maps(cfg));
        }
        if let Some(e) = &mut self.array {
            e.decide_maps(cfg);
        }
    }

    /// Marks objects of more than `map_max_keys` keys as maps: run on a shape merged
    /// with the recorded one, so that keys that rotate from sample to sample (ids as
    /// keys) end as a map instead of growing a ROW without bound. Only the count
    /// decides here: the recorded shape keeps no presence counts.
    pub fn cap_maps(&mut self, cfg: &InferConfig) {
        if let Some(o) = &mut self.object {
            o.map |= o.fields.len() > cfg.map_max_keys;
            o.fields.values_mut().for_each(|f| f.cap_maps(cfg));
        }
        if let Some(e) = &mut self.array {
            e.cap_maps(cfg);
        }
    }

    /// The kinds of JSON values seen (null aside).
    fn kinds(&self) -> usize {
        [
            self.boolean,
            self.int.is_some() || self.fraction,
            self.string.is_some(),
            self.object.is_some(),
            self.array.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }

    /// The Flink type that reads every value seen here without losing or changing one,
    /// where a STRING keeps a number's text as written (Flink 1.18's decoder).
    pub fn flink_type(&self, std: TsStandard) -> FlinkType {
        self.flink_type_reading(std, Fractions::Text)
    }

    /// [`Shape::flink_type`], with numbers a DOUBLE cannot hold read as `fractions` says.
    pub fn flink_type_reading(&self, std: TsStandard, fractions: Fractions) -> FlinkType {
        let nested = |s: &Shape| s.flink_type_reading(std, fractions);
        if self.too_deep || self.kinds() != 1 {
            return FlinkType::String;
        }
        if self.boolean {
            return FlinkType::Boolean;
        }
        if self.fraction {
            let exact = !self.fraction_inexact && !self.int_beyond_double && self.int <= Some(IntClass::BigInt);
            return match (exact, fractions, self.decimal_scale()) {
                (true, _, _) => FlinkType::Double,
                (false, Fractions::Decimal, Some(scale)) => FlinkType::Decimal(38, scale),
                (false, _, _) => FlinkType::String,
            };
        }
        if let Some(class) = self.int {
            return match class {
                IntClass::Int => FlinkType::Int,
                IntClass::BigInt => FlinkType::BigInt,
                IntClass::Decimal => FlinkType::Decimal(38, 0),
                IntClass::Huge => FlinkType::String,
            };
        }
        if let Some(caps) = self.string {
            let (ts, ltz) = std.masks();
            let p = precision(caps.digits);
            return if caps.mask & strings::DATE != 0 {
                FlinkType::Date
            } else if caps.mask & ts != 0 {
                FlinkType::Timestamp(p)
            } else if caps.mask & ltz != 0 {
                FlinkType::TimestampLtz(p)
            } else {
                FlinkType::String
            };
        }
        if let Some(o) = &self.object {
            let readable = || o.fields.iter().filter(|(k, _)| crate::types::nameable(k));
            if o.map {
                let mut v = Shape::default();
                o.fields.values().for_each(|f| v.join(f));
                return FlinkType::Map(Box::new(nested(&v)));
            }
            if readable().next().is_none() {
                return FlinkType::String;
            }
            return FlinkType::Row(readable().map(|(k, f)| (k.clone(), nested(f))).collect());
        }
        match &self.array {
            Some(e) => FlinkType::Array(Box::new(nested(e))),
            None => FlinkType::String,
        }
    }

    /// The scale of a DECIMAL(38, scale) that holds every number seen here exactly, if
    /// one does: the integers need the digits their class allows.
    fn decimal_scale(&self) -> Option<u8> {
        let d = self.fraction_digits?;
        let int = match self.int {
            None => 0,
            Some(IntClass::Int) => 10,
            Some(IntClass::BigInt) => 19,
            Some(IntClass::Decimal) => 38,
            Some(IntClass::Huge) => return None,
        };
        (d.scale.saturating_add(d.int.max(int)) <= 38).then_some(d.scale as u8)
    }

    /// Counts the temporal leaves each standard would type, for choosing one.
    fn count_temporal(&self, sql: &mut usize, iso: &mut usize) {
        if self.kinds() == 1
            && !self.too_deep
            && let Some(c) = self.string
        {
            *sql += usize::from(c.mask & (strings::TS_SQL | strings::LTZ_SQL) != 0);
            *iso += usize::from(c.mask & (strings::TS_ISO | strings::LTZ_ISO) != 0);
        }
        if let Some(o) = &self.object {
            o.fields.values().for_each(|f| f.count_temporal(sql, iso));
        }
        if let Some(e) = &self.array {
            e.count_temporal(sql, iso);
        }
    }

    /// The timestamp standard that types the most columns (SQL, Flink's default, on a tie).
    pub fn choose_standard(&self) -> TsStandard {
        let (mut sql, mut iso) = (0, 0);
        self.count_temporal(&mut sql, &mut iso);
        if iso > sql { TsStandard::Iso } else { TsStandard::Sql }
    }

    /// Human notes on why this path got `ty`, from the evidence counters.
    pub fn notes(&self, ty: &FlinkType, std: TsStandard) -> Vec<String> {
        let s = &self.stats;
        let mut notes = Vec::new();
        if s.present == 0 {
            notes.push("not in today's sample (kept from the recorded schema)".to_string());
            return notes;
        }
        if s.present == s.nulls {
            notes.push("only nulls seen".into());
        } else if self.too_deep {
            notes.push("nested deeper than max_depth: kept as JSON text".into());
        } else if self.kinds() > 1 {
            let parts: Vec<String> = [
                ("boolean", s.booleans),
                ("number", s.ints + s.fractions),
                ("string", s.strings),
                ("object", s.objects),
                ("array", s.arrays),
            ]
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
            notes.push(format!("mixed kinds ({}): read as JSON text", parts.join(", ")));
        }
        match ty {
            FlinkType::Double if s.ints > 0 => notes.push(format!("widened from integers: {} fractional", s.fractions)),
            FlinkType::BigInt if self.int == Some(IntClass::BigInt) => notes.push("integers beyond INT".into()),
            FlinkType::Decimal(..) if self.fraction => notes.push(
                "fractions a DOUBLE cannot hold: DECIMAL keeps them (this engine's JSON decoder re-prints numbers read as text)".into(),
            ),
            FlinkType::Decimal(..) => notes.push("integers beyond BIGINT".into()),
            FlinkType::String if self.kinds() == 1 && (self.int.is_some() || self.fraction) => {
                notes.push("numbers no Flink number type holds exactly: kept as text".into())
            }
            FlinkType::String if self.kinds() == 1 && self.string.is_some_and(|c| c.mask != 0) => notes.push(format!(
                "timestamps in the other standard than this table's {} (one per table): kept as text",
                std.as_str()
            )),
            FlinkType::String if self.kinds() == 1 && s.temporal > 0 => notes.push(format!(
                "{} of {} strings look temporal, but not all in one shape Flink reads",
                s.temporal, s.strings
            )),
            FlinkType::Timestamp(_) | FlinkType::TimestampLtz(_) => {
                notes.push(format!("all {} strings parse under the {} standard", s.strings, std.as_str()))
            }
            FlinkType::Map(_) => notes.push("object with many or sparse keys: read as a map".into()),
            _ => {}
        }
        notes
    }
}

fn precision(digits: u8) -> u8 {
    match digits {
        0..=3 => 3,
        4..=6 => 6,
        _ => 9,
    }
}

/// A record the scanner refused, by its place in the input (from 1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("record {record}: {refusal}")]
pub struct RecordError {
    /// Which record.
    pub record: usize,
    /// Why.
    pub refusal: Refusal,
}

/// Infers the root shape of records: observes every record, then cuts the shape at the
/// depth cap and decides maps.
pub fn infer<'a>(records: impl IntoIterator<Item = &'a [u8]>, cfg: &InferConfig) -> Result<Shape, RecordError> {
    let mut root = Shape::default();
    for (i, r) in records.into_iter().enumerate() {
        observe(&mut root, r).map_err(|refusal| RecordError { record: i + 1, refusal })?;
    }
    Ok(settle(root, cfg))
}

/// A shape observed at every depth, as `cfg` reads it: cut at the depth cap, maps decided.
pub fn settle(mut root: Shape, cfg: &InferConfig) -> Shape {
    root.cut(0, cfg.max_depth);
    decide_root_maps(&mut root, cfg);
    root
}

/// The root object holds the table's columns: only values below it can become maps.
fn decide_root_maps(root: &mut Shape, cfg: &InferConfig) {
    if let Some(o) = &mut root.object {
        o.fields.values_mut().for_each(|f| f.decide_maps(cfg));
    }
}

#[cfg(test)]
mod tests;
