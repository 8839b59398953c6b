//! Connecting to a PostgreSQL-protocol database (PostgreSQL or Hologres) with
//! tokio-postgres, TLS with rustls by libpq's rules ([`tls`]). Shared by the postgres
//! state backend and the sink DDL.

pub mod tls;

use std::path::PathBuf;

use tokio_postgres::Client;

use tls::SslMode;

/// Why talking to a PostgreSQL-protocol database failed. The connection string is
/// never part of a message: only where it came from. A `tokio_postgres::Error` is
/// kept whole but not exposed as the source: its own text already ends with its
/// cause, which a printed chain would then repeat.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The environment variable holding the connection string is unset or empty.
    #[error("set {0} to the connection string")]
    NotSet(String),
    /// The connection string does not parse.
    #[error("the connection string in {from} is invalid: {cause}")]
    Dsn {
        /// Where the connection string came from.
        from: String,
        /// The parser's error.
        cause: tokio_postgres::Error,
    },
    /// `sslmode` names no mode libpq has.
    #[error(
        "the connection string in {from} has sslmode `{value}`: use disable, prefer, require, verify-ca or verify-full"
    )]
    SslMode {
        /// Where the connection string came from.
        from: String,
        /// The value given.
        value: String,
    },
    /// The TLS settings cannot be used (an unreadable root certificate).
    #[error("the connection string in {from}: {cause}")]
    Tls {
        /// Where the connection string came from.
        from: String,
        /// Why.
        #[source]
        cause: tls::TlsError,
    },
    /// Connecting failed.
    #[error("cannot connect with {from}: {}", message(.cause))]
    Connect {
        /// Where the connection string came from.
        from: String,
        /// Why.
        cause: tokio_postgres::Error,
    },
    /// A statement failed: the server's code and message, or the client's error.
    #[error("{}", message(.0))]
    Statement(tokio_postgres::Error),
    /// The connection's thread or runtime is gone.
    #[error("the database connection is closed")]
    Closed,
    /// The connection's thread or runtime could not start.
    #[error("cannot start the database connection's thread")]
    Thread(#[source] std::io::Error),
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        PgError::Statement(e)
    }
}

/// A parsed connection string: tokio-postgres' settings, and the TLS settings it
/// leaves to the caller (`verify-ca`, `verify-full` and `sslrootcert` it does not read).
#[derive(Clone, Debug)]
pub struct Dsn {
    pg: tokio_postgres::Config,
    mode: SslMode,
    root_cert: Option<PathBuf>,
}

/// Parses a connection string that came from `from` (named in errors, never shown).
pub fn config(dsn: &str, from: &str) -> Result<Dsn, PgError> {
    let (rest, mode, root_cert) = split_tls(dsn);
    let mode = match mode {
        None => SslMode::default(),
        Some(m) => SslMode::parse(&m).ok_or_else(|| PgError::SslMode { from: from.to_string(), value: m })?,
    };
    let mut pg: tokio_postgres::Config =
        rest.parse().map_err(|cause| PgError::Dsn { from: from.to_string(), cause })?;
    pg.ssl_mode(match mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    Ok(Dsn { pg, mode, root_cert: root_cert.map(PathBuf::from) })
}

/// Connects and spawns the connection's driver on the current runtime.
pub async fn connect(dsn: &Dsn, from: &str) -> Result<Client, PgError> {
    let failed = |cause| PgError::Connect { from: from.to_string(), cause };
    if dsn.mode == SslMode::Disable {
        let (client, conn) = dsn.pg.connect(tokio_postgres::NoTls).await.map_err(failed)?;
        tokio::spawn(conn);
        return Ok(client);
    }
    let tls = tls::client_config(dsn.mode, dsn.root_cert.as_ref())
        .map_err(|e| PgError::Tls { from: from.to_string(), cause: e })?;
    let (client, conn) = dsn.pg.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls)).await.map_err(failed)?;
    tokio::spawn(conn);
    Ok(client)
}

/// The connection string without `sslmode` and `sslrootcert`, and their values, in
/// either form libpq takes: `key=value` pairs (values quoted with `'`, `\` escaping)
/// or a `postgres://` URL's query. Text that is neither is left to tokio-postgres to
/// refuse.
fn split_tls(dsn: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    let mut take = |key: &str, value: String| match key {
        "sslmode" => mode = Some(value),
        "sslrootcert" => root = Some(value),
        _ => {}
    };
    let is_tls = |key: &str| key == "sslmode" || key == "sslrootcert";
    let rest = if let Some((head, query)) =
        dsn.split_once('?').filter(|_| dsn.starts_with("postgres://") || dsn.starts_with("postgresql://"))
    {
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(k);
            if is_tls(&key) {
                take(&key, percent_decode(v));
            } else {
                kept.push(pair);
            }
        }
        if kept.is_empty() { head.to_string() } else { format!("{head}?{}", kept.join("&")) }
    } else {
        let Some(pairs) = key_values(dsn) else { return (dsn.to_string(), None, None) };
        let mut out = String::with_capacity(dsn.len());
        let mut at = 0;
        for (span, key, value) in pairs {
            if is_tls(&key) {
                out.push_str(&dsn[at..span.start]);
                at = span.end;
                take(&key, value);
            }
        }
        out.push_str(&dsn[at..]);
        out
    };
    (rest, mode, root)
}

/// The `key = value` pairs of a libpq connection string: each one's span, key and
/// unquoted value; `None` when the text is not in that form.
fn key_values(dsn: &str) -> Option<Vec<(std::ops::Range<usize>, String, String)>> {
    let b = dsn.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let skip = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip(&mut i);
        if i == b.len() {
            return Some(out);
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = dsn[start..i].to_string();
        skip(&mut i);
        if b.get(i) != Some(&b'=') || key.is_empty() {
            return None;
        }
        i += 1;
        skip(&mut i);
        let quoted = b.get(i) == Some(&b'\'');
        if quoted {
            i += 1;
        }
        let mut value = Vec::new();
        loop {
            match b.get(i) {
                None if quoted => return None,
                None => break,
                Some(b'\'') if quoted => {
                    i += 1;
                    break;
                }
                Some(c) if !quoted && c.is_ascii_whitespace() => break,
                Some(b'\\') => {
                    value.push(*b.get(i + 1)?);
                    i += 2;
                }
                Some(c) => {
                    value.push(*c);
                    i += 1;
                }
            }
        }
        out.push((start..i, key, String::from_utf8(value).ok()?));
    }
}

/// `%XX` escapes decoded (invalid ones kept as they are).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%').then(|| s.get(i + 1..i + 3)).flatten().and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Connects with the connection string in the environment variable `env`.
pub async fn connect_env(env: &str) -> Result<Client, PgError> {
    let dsn = std::env::var(env).ok().filter(|v| !v.is_empty()).ok_or_else(|| PgError::NotSet(env.to_string()))?;
    connect(&config(&dsn, env)?, env).await
}

/// A database error's message, with the server's code and text when there is one.
fn message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{config, split_tls};

    #[test]
    fn the_tls_settings_are_taken_out_of_either_form_and_nothing_else() {
        let (rest, mode, root) =
            split_tls("host=h sslmode = verify-full password='a sslmode=x\\' b' sslrootcert='/c d.crt' user=u");
        assert_eq!(rest, "host=h  password='a sslmode=x\\' b'  user=u");
        assert_eq!((mode.as_deref(), root.as_deref()), (Some("verify-full"), Some("/c d.crt")));
        let (rest, mode, root) =
            split_tls("postgres://u:p%3Fsslmode@h/db?sslmode=verify-ca&application_name=x&sslrootcert=%2Fr.crt");
        assert_eq!(rest, "postgres://u:p%3Fsslmode@h/db?application_name=x");
        assert_eq!((mode.as_deref(), root.as_deref()), (Some("verify-ca"), Some("/r.crt")));
        let (rest, mode, _) = split_tls("postgresql://h/db?sslmode=disable");
        assert_eq!((rest.as_str(), mode.as_deref()), ("postgresql://h/db", Some("disable")));
        assert_eq!(split_tls("host=h user=u"), ("host=h user=u".to_string(), None, None));
    }

    #[test]
    fn a_connection_string_that_does_not_parse_is_never_echoed() {
        const PW: &str = "pw-canary-91c2";
        for dsn in [
            "host=127.0.0.1 password=pw-canary-91c2 port=notaport",
            "host=127.0.0.1 password='pw-canary-91c2",
            "host=127.0.0.1 password=pw-canary-91c2 sslmode=sometimes",
            "postgres://user:pw-canary-91c2@127.0.0.1:notaport/db",
            "postgres://user:pw-canary-91c2@127.0.0.1/db?sslmode=sometimes",
            "postgres://user:pw-canary-91c2@[::1/db",
        ] {
            let e = config(dsn, "STATE_DSN").expect_err(dsn);
            let (shown, debug) = (format!("{e:#}"), format!("{e:?}"));
            assert!(
                shown.starts_with("the connection string in STATE_DSN is invalid: ")
                    || shown.starts_with("the connection string in STATE_DSN has sslmode `sometimes`"),
                "{shown}"
            );
            assert!(!shown.contains(PW) && !debug.contains(PW), "{dsn}: {shown} / {debug}");
        }
    }
}
