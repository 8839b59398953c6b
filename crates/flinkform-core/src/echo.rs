//! Values VVP echoes back, compared by what they mean rather than by their text. Alibaba
//! documents no normalization of what GetDeployment returns, and none rules it out; a
//! server that strips a trailing newline or writes `10000` for `10s` must not turn every
//! plan into a restart. The rules, each the value's own grammar:
//! - SQL: line ends (`\r\n`, `\n`), whitespace at the end of a line and blank lines
//!   at either end carry no meaning;
//! - memory (`4Gi`, `4 GiB` as Alibaba's API examples write it, `4096Mi`, Flink's `4g`,
//!   `4096m`): a quantity of bytes, Kubernetes' binary (`Ki`…`Ei`) and decimal (`k`,
//!   `M`…`E`) suffixes, IEC's `KiB`…`TiB`, Flink's `MemorySize` units (`b`, `k`/`kb`,
//!   `m`/`mb`, `g`/`gb`, `t`/`tb`, powers of 1024);
//! - Flink configuration values: equal as text, as numbers (`1`, `1.0`), as booleans
//!   (`true`, `TRUE`), as durations by Flink's `TimeUtils` (`10s`, `10 s`, `10000 ms`,
//!   `10000`, a bare number being milliseconds) or as memory sizes.

/// The SQL as compared: `\n` line ends, no trailing whitespace on a line, no blank
/// lines at either end.
pub fn sql(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim_matches('\n').to_string()
}

/// The digest SQL is compared by across a plan and its refresh: of [`sql`]'s form.
pub fn sql_digest(text: &str) -> String {
    crate::spec::digest(&[sql(text).as_bytes()])
}

/// Whether two SQL scripts are the same but for [`sql`]'s whitespace.
pub fn same_sql(a: &str, b: &str) -> bool {
    a == b || sql(a) == sql(b)
}

/// Whether two memory quantities are the same number of bytes (or the same text).
pub fn same_memory(a: &str, b: &str) -> bool {
    a == b || matches!((bytes(a), bytes(b)), (Some(x), Some(y)) if x == y)
}

/// Whether two Flink configuration values mean the same.
pub fn same_conf(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a == b {
        return true;
    }
    let num = |s: &str| s.parse::<f64>().ok().filter(|f| f.is_finite());
    let boolean = |s: &str| match s.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    matches!((num(a), num(b)), (Some(x), Some(y)) if x == y)
        || matches!((boolean(a), boolean(b)), (Some(x), Some(y)) if x == y)
        || matches!((millis(a), millis(b)), (Some(x), Some(y)) if x == y)
        || same_memory(a, b)
}

/// A number and its unit, split where the digits end (`10 s` → (10, "s")).
fn split(s: &str) -> Option<(f64, String)> {
    let s = s.trim();
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let n: f64 = s[..end].parse().ok()?;
    Some((n, s[end..].trim().to_string()))
}

/// A duration in milliseconds by Flink's `TimeUtils.parseDuration` (a bare number is
/// milliseconds).
fn millis(s: &str) -> Option<u128> {
    let (n, unit) = split(s)?;
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => 1e-6,
        "µs" | "us" | "micro" | "micros" | "microsecond" | "microseconds" => 1e-3,
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1.0,
        "s" | "sec" | "secs" | "second" | "seconds" => 1e3,
        "m" | "min" | "minute" | "minutes" => 6e4,
        "h" | "hour" | "hours" => 3.6e6,
        "d" | "day" | "days" => 8.64e7,
        _ => return None,
    };
    let ms = n * scale;
    (ms.fract() == 0.0 && n.fract() == 0.0).then_some(ms as u128)
}

/// A memory quantity in bytes: Kubernetes' suffixes (binary `Ki`…, decimal `k`, `M`…)
/// and Flink's `MemorySize` units (powers of 1024, case-insensitive).
fn bytes(s: &str) -> Option<u128> {
    let (n, unit) = split(s)?;
    const K: f64 = 1024.0;
    let scale = match unit.as_str() {
        "" => 1.0,
        "Ki" | "KiB" => K,
        "Mi" | "MiB" => K * K,
        "Gi" | "GiB" => K * K * K,
        "Ti" | "TiB" => K.powi(4),
        "Pi" => K.powi(5),
        "Ei" => K.powi(6),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        other => match other.to_ascii_lowercase().as_str() {
            "b" | "bytes" => 1.0,
            "kb" | "kibibytes" => K,
            "m" | "mb" | "mebibytes" => K * K,
            "g" | "gb" | "gibibytes" => K * K * K,
            "t" | "tb" | "tebibytes" => K.powi(4),
            _ => return None,
        },
    };
    let b = n * scale;
    (b.fract() == 0.0).then_some(b as u128)
}

#[cfg(test)]
mod tests {
    use super::{same_conf, same_memory, same_sql};

    #[test]
    fn sql_differs_only_by_meaningful_text() {
        let sql = "CREATE TABLE t (a INT);\nINSERT INTO s SELECT a FROM t;\n";
        assert!(same_sql(sql, sql.trim_end()));
        assert!(same_sql(sql, &sql.replace('\n', "\r\n")));
        assert!(same_sql(sql, &format!("\n{}", sql.replace(";\n", ";  \n"))));
        assert!(!same_sql(sql, &sql.replace("a INT", "a  INT")), "inner whitespace is kept");
        assert!(!same_sql(sql, &sql.replace("INT", "BIGINT")));
    }

    #[test]
    fn memory_is_a_quantity() {
        for (a, b) in
            [("4Gi", "4 Gi"), ("4Gi", "4 GiB"), ("4Gi", "4096Mi"), ("1g", "1024m"), ("1G", "1000M"), ("2gb", "2Gi")]
        {
            assert!(same_memory(a, b), "{a} = {b}");
        }
        for (a, b) in [("4Gi", "4G"), ("1g", "1000m"), ("4Gi", "5Gi"), ("4Gi", "4 Gx")] {
            assert!(!same_memory(a, b), "{a} != {b}");
        }
    }

    #[test]
    fn flink_values_by_their_type() {
        for (a, b) in [
            ("1", "1.0"),
            ("10s", "10000"),
            ("10 s", "10000 ms"),
            ("1 min", "60s"),
            ("true", "TRUE"),
            ("512m", "512 mb"),
            (" x ", "x"),
        ] {
            assert!(same_conf(a, b), "{a} = {b}");
        }
        for (a, b) in
            [("1", "2"), ("10s", "10001"), ("true", "false"), ("exactly_once", "EXACTLY_ONCE"), ("1.5s", "1s")]
        {
            assert!(!same_conf(a, b), "{a} != {b}");
        }
    }
}
