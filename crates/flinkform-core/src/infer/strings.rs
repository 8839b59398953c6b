//! Which Flink temporal types a JSON string can be read as, in the exact shapes that
//! Flink's JSON format parses (measured with Flink's own reader; see
//! `flink_sql_check.md`). Anything else stays a plain string.

/// The string is a `DATE` (`yyyy-MM-dd`).
pub const DATE: u8 = 1;
/// A `TIMESTAMP` under `json.timestamp-format.standard = 'SQL'` (`yyyy-MM-dd HH:mm:ss[.f]`).
pub const TS_SQL: u8 = 2;
/// A `TIMESTAMP` under the `ISO-8601` standard (`yyyy-MM-ddTHH:mm:ss[.f]`).
pub const TS_ISO: u8 = 4;
/// A `TIMESTAMP_LTZ` under the SQL standard (`yyyy-MM-dd HH:mm:ss[.f]Z`).
pub const LTZ_SQL: u8 = 8;
/// A `TIMESTAMP_LTZ` under the ISO-8601 standard (`yyyy-MM-ddTHH:mm:ss[.f]Z`).
pub const LTZ_ISO: u8 = 16;

/// Classifies a string: the set of temporal readings it allows (a bit mask of the
/// constants above, 0 for none) and the number of fraction-of-second digits.
pub fn classify(s: &str) -> (u8, u8) {
    let b = s.as_bytes();
    if b.len() < 10 || !b[0].is_ascii_digit() || !valid_date(&b[..10]) {
        return (0, 0);
    }
    if b.len() == 10 {
        return (DATE, 0);
    }
    let (sql, rest) = match b[10] {
        b' ' => (true, &b[11..]),
        b'T' => (false, &b[11..]),
        _ => return (0, 0),
    };
    if rest.len() < 8 || !valid_time(&rest[..8]) {
        return (0, 0);
    }
    let mut rest = &rest[8..];
    let mut digits = 0u8;
    if let Some((b'.', tail)) = rest.split_first() {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return (0, 0);
        }
        digits = n as u8;
        rest = &tail[n..];
    }
    let mask = match (rest, sql) {
        ([], true) => TS_SQL,
        ([], false) => TS_ISO,
        ([b'Z'], true) => LTZ_SQL,
        ([b'Z'], false) => LTZ_ISO,
        _ => 0,
    };
    (mask, if mask == 0 { 0 } else { digits })
}

fn num(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
}

fn valid_date(b: &[u8]) -> bool {
    if b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (num(&b[..4]), num(&b[5..7]), num(&b[8..10])) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1 && (1..=days).contains(&d)
}

fn valid_time(b: &[u8]) -> bool {
    if b[2] != b':' || b[5] != b':' {
        return false;
    }
    // Hour 24 is left out: the SQL standard reads it as the next day, ISO-8601 fails.
    matches!((num(&b[..2]), num(&b[3..5]), num(&b[6..8])), (Some(h), Some(m), Some(s)) if h < 24 && m < 60 && s < 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_flink_reads() {
        let cases: &[(&str, u8, u8)] = &[
            ("2024-01-01", DATE, 0),
            ("2024-02-29", DATE, 0),
            ("2023-02-29", 0, 0),
            ("2024-1-1", 0, 0),
            ("2024-01-01 10:00:00", TS_SQL, 0),
            ("2024-01-01 10:00:00.123", TS_SQL, 3),
            ("2024-01-01T10:00:00.123456", TS_ISO, 6),
            ("2024-01-01T10:00:00.1234567890", 0, 0),
            ("2024-01-01 10:00:00Z", LTZ_SQL, 0),
            ("2024-01-01T10:00:00.5Z", LTZ_ISO, 1),
            ("2024-01-01T10:00:00z", 0, 0),
            ("2024-01-01T10:00:00+08:00", 0, 0),
            ("2024-01-01 24:00:00", 0, 0),
            ("2024-01-01 10:00", 0, 0),
            ("2024-01-01 10:00:00 ", 0, 0),
            ("2024-01-01T10:00:00.Z", 0, 0),
            ("0000-01-01", 0, 0),
            ("1714557600000", 0, 0),
            ("", 0, 0),
        ];
        for (s, mask, digits) in cases {
            assert_eq!(classify(s), (*mask, *digits), "{s:?}");
        }
    }
}
