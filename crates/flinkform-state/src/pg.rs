//! Connecting to a PostgreSQL-protocol database (PostgreSQL or Hologres) with
//! tokio-postgres: TLS with rustls when the connection string asks for it
//! (`sslmode=require`), plain TCP otherwise. Shared by the postgres state backend and
//! the sink DDL.

use tokio_postgres::Client;
use tokio_postgres::config::SslMode;

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

/// Parses a connection string that came from `from` (named in errors, never shown).
pub fn config(dsn: &str, from: &str) -> Result<tokio_postgres::Config, PgError> {
    dsn.parse().map_err(|cause| PgError::Dsn { from: from.to_string(), cause })
}

/// Connects and spawns the connection's driver on the current runtime.
pub async fn connect(pg: &tokio_postgres::Config, from: &str) -> Result<Client, PgError> {
    let failed = |cause| PgError::Connect { from: from.to_string(), cause };
    if pg.get_ssl_mode() == SslMode::Require {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let (client, conn) = pg.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls)).await.map_err(failed)?;
        tokio::spawn(conn);
        Ok(client)
    } else {
        let (client, conn) = pg.connect(tokio_postgres::NoTls).await.map_err(failed)?;
        tokio::spawn(conn);
        Ok(client)
    }
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
    use super::config;

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
            assert!(shown.starts_with("the connection string in STATE_DSN is invalid: "), "{shown}");
            assert!(!shown.contains(PW) && !debug.contains(PW), "{dsn}: {shown} / {debug}");
        }
    }
}
