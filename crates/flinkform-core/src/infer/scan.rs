//! One streaming pass over a JSON record that folds every value straight into the
//! [`Shape`] of its path: no tree is built per record. The record must already be
//! known to be a valid JSON object (the sampler checks that); malformed input still
//! gives an error here, never a panic.

use super::{Digits, IntClass, Object, Shape, StrCaps, strings};

/// Observes one JSON record (an object) into `root`.
pub fn observe(root: &mut Shape, record: &[u8], max_depth: usize) -> Result<(), String> {
    // One UTF-8 check for the whole record; slices below are cut at ASCII delimiters.
    let text = std::str::from_utf8(record).map_err(|e| format!("invalid UTF-8: {e}"))?;
    let mut s = Scanner { t: text, b: record, i: 0, max_depth, buf: String::new() };
    s.ws();
    if s.peek() == Some(0xEF) {
        s.i += 3; // UTF-8 byte order mark, which Flink's reader skips
        s.ws();
    }
    if s.peek() != Some(b'{') {
        return Err("not a JSON object".into());
    }
    s.value(root, 0)?;
    s.ws();
    match s.peek() {
        None => Ok(()),
        Some(_) => Err(format!("trailing data at byte {}", s.i)),
    }
}

struct Scanner<'a> {
    t: &'a str,
    b: &'a [u8],
    i: usize,
    max_depth: usize,
    buf: String,
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

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.i))
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(&format!("expected `{}`", c as char))
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), String> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            self.err("invalid literal")
        }
    }

    fn value(&mut self, shape: &mut Shape, depth: usize) -> Result<(), String> {
        self.ws();
        shape.stats.present += 1;
        match self.peek() {
            Some(b'{' | b'[') if depth > self.max_depth => {
                shape.too_deep = true;
                shape.stats.deep += 1;
                self.skip()
            }
            Some(b'{') => {
                self.i += 1;
                shape.stats.objects += 1;
                let obj = shape.object.get_or_insert_with(Object::default);
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(());
                }
                // Records mostly repeat their keys in the same order: the field after
                // the previous one is tried before the hash lookup.
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
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return self.err("expected `,` or `}`"),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                shape.stats.arrays += 1;
                let elem = shape.array.get_or_insert_with(Box::default);
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.value(elem, depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return self.err("expected `,` or `]`"),
                    }
                }
            }
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

    /// Reads a string token and returns its decoded text (borrowed when it has no escapes).
    fn string(&mut self) -> Result<&str, String> {
        if self.peek() != Some(b'"') {
            return self.err("expected a string");
        }
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => return self.err("unterminated string"),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.i += 2;
                }
                Some(_) => self.i += 1,
            }
        }
        let raw = self.t.get(start..self.i).ok_or("unterminated string")?;
        self.i += 1;
        if !escaped {
            return Ok(raw);
        }
        self.buf.clear();
        unescape(raw, &mut self.buf)?;
        Ok(&self.buf)
    }

    fn number(&mut self, shape: &mut Shape) -> Result<(), String> {
        let start = self.i;
        let mut fractional = false;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' | b'-' | b'+' => {}
                b'.' | b'e' | b'E' => fractional = true,
                _ => break,
            }
            self.i += 1;
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
            shape.fraction_inexact |= !exact_in_double(text)?;
        } else {
            let class = IntClass::of(text);
            shape.int = Some(shape.int.map_or(class, |c| c.max(class)));
            shape.int_beyond_double |= beyond_double(text);
            shape.stats.ints += 1;
        }
        Ok(())
    }

    /// Skips one value (used below the depth cap).
    fn skip(&mut self) -> Result<(), String> {
        let mut depth = 0usize;
        loop {
            self.ws();
            match self.peek() {
                None => return self.err("unterminated value"),
                Some(b'{' | b'[') => {
                    depth += 1;
                    self.i += 1;
                }
                Some(b'}' | b']') => {
                    depth = depth.saturating_sub(1);
                    self.i += 1;
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(_) => self.i += 1,
            }
            if depth == 0 {
                return Ok(());
            }
        }
    }
}

fn unescape(raw: &str, out: &mut String) -> Result<(), String> {
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('/') => out.push('/'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hi = hex4(&mut chars)?;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    if chars.next() != Some('\\') || chars.next() != Some('u') {
                        return Err("lone surrogate in a \\u escape".into());
                    }
                    let lo = hex4(&mut chars)?;
                    0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                } else {
                    hi
                };
                out.push(char::from_u32(code).ok_or("invalid \\u escape")?);
            }
            _ => return Err("invalid escape in a string".into()),
        }
    }
    Ok(())
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Result<u32, String> {
    let h: String = chars.take(4).collect();
    u32::from_str_radix(&h, 16).map_err(|_| format!("invalid \\u escape `{h}`"))
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
fn exact_in_double(text: &str) -> Result<bool, String> {
    // Fast path: no exponent, short, at most 15 significant digits: always exact.
    if text.len() <= 300 && !text.contains(['e', 'E']) && significant_digits(text) <= 15 {
        return Ok(true);
    }
    let v: f64 = text.parse().map_err(|_| format!("invalid number `{text}`"))?;
    if !v.is_finite() {
        return Ok(false);
    }
    // Otherwise the value must print back (shortest round-trip form) with the same digits.
    let written = decimal_digits(text);
    if v == 0.0 {
        return Ok(written.0.is_empty());
    }
    Ok(written == decimal_digits(&format!("{v:e}")))
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
        assert!(exact_in_double("1.5").unwrap());
        assert!(exact_in_double("0.30000000000000004").unwrap());
        assert!(exact_in_double("1e300").unwrap());
        assert!(!exact_in_double("1e400").unwrap());
        assert!(!exact_in_double("0.1000000000000000000001").unwrap());
        assert!(exact_in_double("-12.500000000000000000").unwrap());
        assert!(exact_in_double("0.0").unwrap());
        assert!(exact_in_double("0e10").unwrap());
        assert!(!exact_in_double("1e-400").unwrap(), "underflows to zero");
        assert!(!exact_in_double(&format!("1{}.0", "0".repeat(400))).unwrap(), "overflows");
        assert!(!exact_in_double(&format!("0.{}1", "0".repeat(400))).unwrap(), "underflows");
        assert!(!exact_in_double("1.2345678901234567e-320").unwrap(), "subnormal loses digits");
        assert!(beyond_double("9007199254740993"));
        assert!(!beyond_double("9007199254740992"));
    }

    #[test]
    fn unescapes_keys_and_surrogates() {
        let mut s = String::new();
        unescape(r#"a\"b\u00e9\ud83d\ude00"#, &mut s).unwrap();
        assert_eq!(s, "a\"bé😀");
    }
}
