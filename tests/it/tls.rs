//! TLS to PostgreSQL as libpq users expect it, against a PostgreSQL of the test's own
//! (initdb, TLS on, a self-signed certificate the test makes with openssl): the state
//! backend and the sink DDL connect through the same code.

use std::path::{Path, PathBuf};
use std::process::Command;

use flinkform_state::pg;

/// A private PostgreSQL cluster with TLS on, stopped and removed on drop.
struct TlsPostgres {
    dir: tempfile::TempDir,
    port: u16,
}

fn sh(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The machine's PostgreSQL binaries (Debian keeps them out of PATH).
fn pg_bin(name: &str) -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL's binaries under /usr/lib/postgresql");
    let mut dirs: Vec<PathBuf> = versions.map(|e| e.unwrap().path().join("bin")).collect();
    dirs.sort();
    dirs.pop().expect("a PostgreSQL version").join(name)
}

impl TlsPostgres {
    fn start() -> TlsPostgres {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // A CA of the test's own, and the server's certificate for `localhost` it signs.
        let at = |f: &str| d.join(f).to_string_lossy().into_owned();
        let openssl = |args: &[&str]| sh(Command::new("openssl").args(args));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=flinkform test CA",
            "-keyout",
            &at("ca.key"),
            "-out",
            &at("ca.crt"),
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &at("server.key"),
            "-out",
            &at("server.csr"),
        ]);
        std::fs::write(d.join("ext.cnf"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &at("server.csr"),
            "-CA",
            &at("ca.crt"),
            "-CAkey",
            &at("ca.key"),
            "-CAcreateserial",
            "-extfile",
            &at("ext.cnf"),
            "-out",
            &at("server.crt"),
        ]);
        sh(Command::new("chmod").args(["0600"]).arg(d.join("server.key")));
        sh(Command::new("chmod").args(["0755"]).arg(d));
        sh(Command::new("chown").args(["-R", "postgres:postgres"]).arg(d));
        let data = d.join("data");
        sh(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_bin("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data));
        let opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {dir} -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key",
            dir = d.display()
        );
        sh(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_bin("pg_ctl"))
            .args(["-w", "-o", &opts, "-D"])
            .arg(&data)
            .args(["-l", &d.join("log").to_string_lossy(), "start"]));
        TlsPostgres { dir, port }
    }

    /// The CA that signed the server's certificate.
    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// Whether a connection with `dsn` works, and then whether it is encrypted.
    fn tls_of(&self, dsn: &str) -> Result<bool, String> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let cfg = pg::config(dsn, "STATE_DSN").map_err(|e| format!("{e:#}"))?;
            let c = pg::connect(&cfg, "STATE_DSN").await.map_err(|e| format!("{e:#}"))?;
            let row = c.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap();
            Ok(row.get::<_, bool>(0))
        })
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_bin("pg_ctl"))
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.path().join("data"))
            .arg("stop")
            .output();
    }
}

fn kv(port: u16, host: &str, extra: &str) -> String {
    format!("host={host} port={port} user=postgres dbname=postgres {extra}")
}

#[test]
fn every_sslmode_does_what_libpq_does() {
    let pg = TlsPostgres::start();
    let port = pg.port;
    let cert = pg.ca();
    let cert = cert.to_string_lossy();
    // libpq's default is `prefer`: TLS when the server offers it.
    assert_eq!(pg.tls_of(&kv(port, "127.0.0.1", "")), Ok(true), "no sslmode");
    assert_eq!(pg.tls_of(&format!("postgres://postgres@127.0.0.1:{port}/postgres")), Ok(true), "URL, no sslmode");
    assert_eq!(pg.tls_of(&kv(port, "127.0.0.1", "sslmode=disable")), Ok(false));
    // `require` encrypts and takes a self-signed certificate, as libpq does.
    assert_eq!(pg.tls_of(&kv(port, "127.0.0.1", "sslmode=require")), Ok(true));
    // The verifying modes check the chain against the given root, and the host name.
    let root = format!("sslrootcert='{cert}'");
    assert_eq!(pg.tls_of(&kv(port, "127.0.0.1", &format!("sslmode=verify-ca {root}"))), Ok(true));
    assert_eq!(pg.tls_of(&kv(port, "localhost", &format!("sslmode=verify-full {root}"))), Ok(true));
    let url = format!("postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={cert}");
    assert_eq!(pg.tls_of(&url), Ok(true), "URL form");
    let wrong_host = pg.tls_of(&kv(port, "127.0.0.1", &format!("sslmode=verify-full {root}"))).unwrap_err();
    assert!(wrong_host.contains("cannot connect with STATE_DSN"), "{wrong_host}");
    // The test's CA is no CA the system knows.
    let unknown = pg.tls_of(&kv(port, "localhost", "sslmode=verify-ca sslrootcert=system")).unwrap_err();
    assert!(unknown.contains("cannot connect with STATE_DSN"), "{unknown}");
    // `require` with a root given verifies the chain, as libpq does.
    let other_root = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if other_root.is_file() {
        let r = pg.tls_of(&kv(port, "localhost", &format!("sslmode=require sslrootcert={}", other_root.display())));
        assert!(r.is_err(), "{r:?}");
    }
    let bad = pg.tls_of(&kv(port, "127.0.0.1", "sslmode=sometimes password=pw-canary")).unwrap_err();
    assert!(bad.contains("sslmode `sometimes`") && !bad.contains("pw-canary"), "{bad}");

    // The state backend, given a DSN without sslmode, holds its connection over TLS.
    let store = flinkform_state::PgStore::open(flinkform_state::PgConfig {
        dsn: kv(port, "127.0.0.1", ""),
        dsn_source: "FLINKFORM_STATE_DSN".into(),
        schema: "flinkform".into(),
        flavor: flinkform_state::Flavor::Postgres,
        state_key: "ws/ns".into(),
        lease_ttl: std::time::Duration::from_secs(2),
    })
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (plain, all) = rt.block_on(async {
        let cfg = pg::config(&kv(port, "127.0.0.1", ""), "check").unwrap();
        let c = pg::connect(&cfg, "check").await.unwrap();
        let row = c
            .query_one(
                "SELECT count(*) FILTER (WHERE NOT s.ssl), count(*) FROM pg_stat_ssl s \
                 JOIN pg_stat_activity a USING (pid) WHERE a.backend_type = 'client backend'",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, i64>(0), row.get::<_, i64>(1))
    });
    assert_eq!((plain, all >= 2), (0, true), "every client connection is encrypted, the store's among them");
    drop(store);
}
