//! One strict streaming pass over a JSON record that folds every value straight into the
//! [`Shape`] of its path: no tree is built per record. The scanner is the record filter
//! too: it accepts exactly what serde_json accepts, except text that cannot be read as
//! Unicode (a `\u` escape of a lone surrogate), and never panics. A refused record may
//! have left part of its values in the shape.

use super::{Digits, IntClass, Object, Shape, StrCaps, strings};

/// Why the scanner refused a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Valid JSON, but not an object.
    #[error("not a JSON object")]
    NotObject,
    /// Not valid JSON: what was wrong, and where.
    #[error("{0}")]
    Invalid(String),
    /// Not valid UTF-8, or a `\u` escape that is no Unicode character (a lone surrogate):
    /// no JSON reader can keep such a value unchanged.
    #[error("{0}")]
    NotText(String),
}

/// Objects and arrays at this depth are not observed, only checked: they are JSON text
/// at any depth cap (the recursion stays bounded however deep a record nests).
const MAX_NESTING: usize = 128;

/// Observes one JSON record (an object) into `root`, at every depth.
pub fn observe(root: &mut Shape, record: &[u8]) -> Result<(), Refusal> {
    // One UTF-8 check for the whole record; slices below are cut at ASCII delimiters.
    let text = std::str::from_utf8(record).map_err(|e| Refusal::NotText(format!("invalid UTF-8: {e}")))?;
    let mut s = Scanner { t: text, b: record, i: 0, buf: String::new(), not_text: None };
    s.ws();
    if s.peek() == Some(0xEF) && record[s.i..].starts_with(BOM) {
        s.i += BOM.len(); // the byte order mark, which Flink's reader skips
        s.ws();
    }
    if s.peek() != Some(b'{') {
        // Refused before anything was observed: say whether it is JSON at all.
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(&record[s.i..]) {
            Ok(_) => Refusal::NotObject,
            Err(e) => Refusal::Invalid(e.to_string()),
        });
    }
    s.value(root, 0)?;
    s.ws();
    if s.peek().is_some() {
        return s.err("trailing data");
    }
    match s.not_text {
        Some(at) => Err(Refusal::NotText(format!("a \\u escape of a lone surrogate in the string at byte {at}"))),
        None => Ok(()),
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

struct Scanner<'a> {
    t: &'a str,
    b: &'a [u8],
    i: usize,
    buf: String,
    /// Where the first string with a lone surrogate starts: the record is refused as
    /// no text once it is known to be JSON, as serde_json decides.
    not_text: Option<usize>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, Refusal> {
        Err(Refusal::Invalid(format!("{what} at byte {}", self.i)))
    }

    fn expect(&mut self, c: u8) -> Result<(), Refusal> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(&format!("expected `{}`", c as char))
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Refusal> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            self.err("invalid literal")
        }
    }

    /// One value at `depth` (the record itself is at 0).
    fn value(&mut self, shape: &mut Shape, depth: usize) -> Result<(), Refusal> {
        self.ws();
        shape.stats.present += 1;
        match self.peek() {
            Some(b'{' | b'[') if depth >= MAX_NESTING => {
                shape.too_deep = true;
                shape.stats.deep += 1;
                self.skip()
            }
            Some(b'{') => self.object(shape, depth),
            Some(b'[') => self.array(shape, depth),
            Some(b'"') => {
                let (mask, digits) = strings::classify(self.string()?);
                let caps = StrCaps { mask, digits };
                shape.string = Some(shape.string.map_or(caps, |c| c.join(caps)));
                shape.stats.strings += 1;
                shape.stats.temporal += u64::from(mask != 0);
                Ok(())
            }
            Some(b't') => {
                self.literal(b"true")?;
                shape.boolean = true;
                shape.stats.booleans += 1;
                Ok(())
            }
            Some(b'f') => {
                self.literal(b"false")?;
                shape.boolean = true;
                shape.stats.booleans += 1;
                Ok(())
            }
            Some(b'n') => {
                self.literal(b"null")?;
                shape.null = true;
                shape.stats.nulls += 1;
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => self.number(shape),
            _ => self.err("expected a JSON value"),
        }
    }

    fn array(&mut self, shape: &mut Shape, depth: usize) -> Result<(), Refusal> {
        self.i += 1;
        shape.stats.arrays += 1;
        let elem = shape.array.get_or_insert_with(Box::default);
        if self.closes(b']') {
            return Ok(());
        }
        loop {
            self.value(elem, depth + 1)?;
            if !self.more(b']')? {
                return Ok(());
            }
        }
    }

    fn object(&mut self, shape: &mut Shape, depth: usize) -> Result<(), Refusal> {
        self.i += 1;
        shape.stats.objects += 1;
        let obj = shape.object.get_or_insert_with(Object::default);
        if self.closes(b'}') {
            return Ok(());
        }
        // Records mostly repeat their keys in the same order: the field after the
        // previous one is tried before the hash lookup.
        let mut next = 0;
        loop {
            self.ws();
            let idx = {
                let key = self.string()?;
                match obj.fields.get_index(next) {
                    Some((k, _)) if k == key => next,
                    _ => match obj.fields.get_index_of(key) {
                        Some(i) => i,
                        None => obj.fields.insert_full(key.to_owned(), Shape::default()).0,
                    },
                }
            };
            next = idx + 1;
            self.expect(b':')?;
            self.value(&mut obj.fields[idx], depth + 1)?;
            if !self.more(b'}')? {
                return Ok(());
            }
        }
    }

    /// Steps over `close` when it is next (an empty object or array).
    #[inline(always)]
    fn closes(&mut self, close: u8) -> bool {
        self.ws();
        let empty = self.peek() == Some(close);
        self.i += usize::from(empty);
        empty
    }

    /// After a member: true past a `,` (another follows), false past `close`.
    #[inline(always)]
    fn more(&mut self, close: u8) -> Result<bool, Refusal> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.i += 1;
                Ok(false)
            }
            _ if close == b'}' => self.err("expected `,` or `}`"),
            _ => self.err("expected `,` or `]`"),
        }
    }

    /// Reads a string token and returns its decoded text (borrowed when it has no escapes).
    fn string(&mut self) -> Result<&str, Refusal> {
        if self.peek() != Some(b'"') {
            return self.err("expected a string");
        }
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            self.i += plain_run(&self.b[self.i..]);
            match self.peek() {
                None => return self.err("unterminated string"),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(_) => return self.err("control character in a string"),
            }
        }
        // Cut at ASCII quotes, so on character boundaries.
        let raw = &self.t[start..self.i];
        self.i += 1;
        if !escaped {
            return Ok(raw);
        }
        self.buf.clear();
        if !unescape(raw, &mut self.buf) && self.not_text.is_none() {
            self.not_text = Some(start);
        }
        Ok(&self.buf)
    }

    /// Checks one escape (at the backslash) and steps over it.
    fn escape(&mut self) -> Result<(), Refusal> {
        match self.b.get(self.i + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 2,
            Some(b'u') if self.b.get(self.i + 2..self.i + 6).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) => {
                self.i += 6
            }
            _ => return self.err("invalid escape in a string"),
        }
        Ok(())
    }

    fn number(&mut self, shape: &mut Shape) -> Result<(), Refusal> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return self.err("invalid number"),
        }
        let mut fractional = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            fractional = true;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return self.err("invalid number");
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            fractional = true;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return self.err("invalid number");
            }
            self.digits();
        }
        let text = &self.t[start..self.i];
        if fractional {
            let digits = decimal_need(text);
            shape.fraction_digits = match (shape.fraction_digits, shape.fraction) {
                (Some(d), _) => Some(Digits { int: d.int.max(digits.int), scale: d.scale.max(digits.scale) }),
                (None, false) => Some(digits),
                (None, true) => None,
            };
            shape.fraction = true;
            shape.stats.fractions += 1;
            shape.fraction_inexact |= !exact_in_double(text);
        } else {
            let class = IntClass::of(text);
            shape.int = Some(shape.int.map_or(class, |c| c.max(class)));
            shape.int_beyond_double |= beyond_double(text);
            shape.stats.ints += 1;
        }
        Ok(())
    }

    /// Steps over one value, checked as serde_json checks it (without recursion).
    fn skip(&mut self) -> Result<(), Refusal> {
        let mut values = serde_json::Deserializer::from_slice(&self.b[self.i..]).into_iter::<serde::de::IgnoredAny>();
        match values.next() {
            Some(Ok(_)) => {
                self.i += values.byte_offset();
                Ok(())
            }
            Some(Err(e)) => Err(Refusal::Invalid(format!("{e} (from byte {})", self.i))),
            None => self.err("expected a JSON value"),
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }
}

/// How many bytes at the start of `b` a string continues over: up to the first quote,
/// backslash or control character. Eight bytes at a time, as serde_json does.
fn plain_run(b: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut n = 0;
    while let Some(word) = b.get(n..n + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        // A byte's high bit is set where it is `"` (0x22), `\` (0x5C) or below 0x20; the
        // lowest such bit marks the first of them exactly.
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let hit = zero(w ^ (ONES * 0x22)) | zero(w ^ (ONES * 0x5C)) | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if hit != 0 {
            return n + (hit.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + b[n..].iter().take_while(|&&c| c != b'"' && c != b'\\' && c >= 0x20).count()
}

/// Decodes a string's escapes (already checked) into `out`; false when one is a lone
/// surrogate, which is written as U+FFFD.
fn unescape(raw: &str, out: &mut String) -> bool {
    let mut text = true;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hi = hex4(&mut chars);
                let code = match hi {
                    0xD800..0xDC00 => match (chars.next(), chars.next()) {
                        (Some('\\'), Some('u')) => match hex4(&mut chars) {
                            lo @ 0xDC00..0xE000 => Some(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)),
                            _ => None,
                        },
                        _ => None,
                    },
                    _ => Some(hi),
                };
                match code.and_then(char::from_u32) {
                    Some(c) => out.push(c),
                    None => {
                        text = false;
                        out.push(char::REPLACEMENT_CHARACTER);
                    }
                }
            }
            // `"`, `\\` and `/` stand for themselves.
            Some(c) => out.push(c),
            None => {}
        }
    }
    text
}

/// Four hex digits, already checked to be there.
fn hex4(chars: &mut std::str::Chars<'_>) -> u32 {
    chars.take(4).fold(0, |code, c| code * 16 + c.to_digit(16).unwrap_or(0))
}

impl IntClass {
    /// The narrowest class that holds this JSON integer literal.
    fn of(text: &str) -> IntClass {
        let digits = text.trim_start_matches('-').len();
        if digits <= 9 {
            return IntClass::Int;
        }
        match text.parse::<i64>() {
            Ok(v) if i32::try_from(v).is_ok() => IntClass::Int,
            Ok(_) => IntClass::BigInt,
            Err(_) if digits <= 38 => IntClass::Decimal,
            Err(_) => IntClass::Huge,
        }
    }
}

/// True when the integer's magnitude is above 2^53, where DOUBLE stops being exact.
fn beyond_double(text: &str) -> bool {
    let digits = text.trim_start_matches('-');
    digits.len() > 16 || (digits.len() == 16 && digits.parse::<u64>().is_ok_and(|v| v > 1 << 53))
}

/// True when a JSON number with a fraction or exponent reads into a DOUBLE with its
/// value unchanged: finite, and the same decimal digits as the shortest round-trip form.
fn exact_in_double(text: &str) -> bool {
    // Fast path: no exponent, short, at most 15 significant digits: always exact.
    if text.len() <= 300 && !text.contains(['e', 'E']) && significant_digits(text) <= 15 {
        return true;
    }
    let Ok(v) = text.parse::<f64>() else { return false };
    if !v.is_finite() {
        return false;
    }
    // Otherwise the value must print back (shortest round-trip form) with the same digits.
    let written = decimal_digits(text);
    if v == 0.0 {
        return written.0.is_empty();
    }
    written == decimal_digits(&format!("{v:e}"))
}

/// The integer and fraction digits a number needs as a DECIMAL (`-0012.50` needs 2 and
/// 2, `1.5e3` needs 4 and 0, `25e-4` needs 0 and 4).
fn decimal_need(text: &str) -> Digits {
    let unsigned = text.trim_start_matches(['-', '+']);
    if !unsigned.contains(['e', 'E']) {
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let int = int.trim_start_matches('0').len();
        return Digits { int: int as u32, scale: frac.len() as u32 };
    }
    let exponent = &unsigned[unsigned.find(['e', 'E']).map_or(0, |p| p + 1)..];
    if exponent.parse::<i64>().is_err() {
        return Digits { int: u32::MAX, scale: u32::MAX };
    }
    // value = 0.D × 10^e
    let (d, e) = decimal_digits(unsigned);
    let len = d.len() as i64;
    let clamp = |v: i64| v.clamp(0, u32::MAX as i64) as u32;
    Digits { int: clamp(e), scale: clamp(len - e) }
}

/// The number of significant digits of a plain decimal (no exponent).
fn significant_digits(text: &str) -> usize {
    let (mut n, mut first, mut last) = (0, None, 0);
    for b in text.bytes().filter(u8::is_ascii_digit) {
        if b != b'0' {
            first.get_or_insert(n);
            last = n;
        }
        n += 1;
    }
    first.map_or(0, |f| last - f + 1)
}

/// A number's significant digits and the decimal exponent of its first digit.
fn decimal_digits(text: &str) -> (String, i64) {
    let text = text.trim_start_matches('-');
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(p) => (&text[..p], text[p + 1..].parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = int.chars().chain(frac.chars()).collect();
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_start_matches('0').trim_end_matches('0').to_string();
    (digits, exp + int.len() as i64 - lead as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_a_decimal_needs() {
        let need = |t| {
            let d = decimal_need(t);
            (d.int, d.scale)
        };
        assert_eq!(need("-0012.50"), (2, 2));
        assert_eq!(need("0.001"), (0, 3));
        assert_eq!(need("1.5e3"), (4, 0));
        assert_eq!(need("25e-4"), (0, 4));
        assert_eq!(need("-1.0E+10"), (11, 0));
        assert_eq!(need("1e400"), (401, 0));
        assert_eq!(need("1e99999999999999999999"), (u32::MAX, u32::MAX), "an exponent beyond i64");
    }

    #[test]
    fn integer_classes() {
        assert_eq!(IntClass::of("2147483647"), IntClass::Int);
        assert_eq!(IntClass::of("-2147483648"), IntClass::Int);
        assert_eq!(IntClass::of("2147483648"), IntClass::BigInt);
        assert_eq!(IntClass::of("-9223372036854775808"), IntClass::BigInt);
        assert_eq!(IntClass::of("9223372036854775808"), IntClass::Decimal);
        assert_eq!(IntClass::of(&"9".repeat(38)), IntClass::Decimal);
        assert_eq!(IntClass::of(&"9".repeat(39)), IntClass::Huge);
    }

    #[test]
    fn doubles_exactness() {
        assert!(exact_in_double("1.5"));
        assert!(exact_in_double("0.30000000000000004"));
        assert!(exact_in_double("1e300"));
        assert!(!exact_in_double("1e400"));
        assert!(!exact_in_double("0.1000000000000000000001"));
        assert!(exact_in_double("-12.500000000000000000"));
        assert!(exact_in_double("0.0"));
        assert!(exact_in_double("0e10"));
        assert!(!exact_in_double("1e-400"), "underflows to zero");
        assert!(!exact_in_double(&format!("1{}.0", "0".repeat(400))), "overflows");
        assert!(!exact_in_double(&format!("0.{}1", "0".repeat(400))), "underflows");
        assert!(!exact_in_double("1.2345678901234567e-320"), "subnormal loses digits");
        assert!(beyond_double("9007199254740993"));
        assert!(!beyond_double("9007199254740992"));
    }

    #[test]
    fn unescapes_keys_and_surrogates() {
        let mut s = String::new();
        assert!(unescape(r#"a\"b\u00e9\ud83d\ude00"#, &mut s));
        assert_eq!(s, "a\"bé😀");
        for lone in [r"\ud800", r"\udc00", r"\ud800\u0041", r"\ud800\n"] {
            s.clear();
            assert!(!unescape(lone, &mut s), "{lone}");
            assert!(s.starts_with('\u{FFFD}'), "{lone}: {s}");
        }
    }
}
