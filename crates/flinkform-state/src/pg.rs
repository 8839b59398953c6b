//! Connecting to a PostgreSQL-protocol database (PostgreSQL or Hologres) with
//! tokio-postgres: TLS with rustls when the connection string asks for it
//! (`sslmode=require`), plain TCP otherwise. Shared by the postgres state backend and
//! the sink DDL.

use tokio_postgres::Client;
use tokio_postgres::config::SslMode;

/// Connects and spawns the connection's driver on the current runtime.
pub async fn connect(pg: &tokio_postgres::Config) -> Result<Client, String> {
    if pg.get_ssl_mode() == SslMode::Require {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let (client, conn) =
            pg.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls)).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Ok(client)
    } else {
        let (client, conn) = pg.connect(tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Ok(client)
    }
}

/// Connects with the connection string in the environment variable `env`.
pub async fn connect_env(env: &str) -> Result<Client, String> {
    let dsn = std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("set {env} to the sink's connection string"))?;
    let cfg: tokio_postgres::Config =
        dsn.parse().map_err(|e| format!("the connection string in {env} is invalid: {e}"))?;
    connect(&cfg).await.map_err(|e| format!("cannot connect with {env}: {e}"))
}

/// A database error's message, with the server's code and text when there is one.
pub fn message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => e.to_string(),
    }
}
