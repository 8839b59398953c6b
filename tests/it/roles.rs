//! The CI flow's roles on the shared PostgreSQL state: `plan` (pull-request CI) under a
//! role that may only read it, `apply` (on merge) under one that may write.

use vvp_api::Vvp;

use crate::apply::{managed_deployments, on_postgres, run_pg};
use crate::common::TestProject;
use crate::state::TempSchema;
use crate::vvp::Emulator;

/// A login role that may only read `schema`'s tables, dropped after the test.
struct ReadOnlyRole(String);

impl ReadOnlyRole {
    fn on(schema: &TempSchema) -> ReadOnlyRole {
        let role = format!("ff_ro_{}", uuid::Uuid::new_v4().simple());
        let s = &schema.0;
        schema.sql(&[
            &format!("CREATE ROLE {role} LOGIN"),
            &format!("GRANT USAGE ON SCHEMA \"{s}\" TO {role}"),
            &format!("GRANT SELECT ON ALL TABLES IN SCHEMA \"{s}\" TO {role}"),
        ]);
        ReadOnlyRole(role)
    }

    /// The test database's connection string, as this role.
    fn dsn(&self) -> String {
        format!("{} user={}", crate::state::pg_dsn(), self.0)
    }
}

impl Drop for ReadOnlyRole {
    fn drop(&mut self) {
        let role = self.0.clone();
        let _ = std::panic::catch_unwind(|| {
            TempSchema("public".into()).sql(&[&format!("DROP OWNED BY {role}"), &format!("DROP ROLE {role}")])
        });
    }
}

/// Runs flinkform in `p` against `emu` with the state's connection string `dsn`.
fn run_as(p: &TestProject, emu: &Emulator, dsn: &str, args: &[&str]) -> crate::common::Run {
    let mut e = crate::apply::env(emu);
    e.push(("TEST_STATE_DSN", dsn.to_string()));
    let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    p.run_with(args, &pairs)
}

/// A role that may only read the state plans (it used to fail: every open ran
/// `CREATE SCHEMA/TABLE IF NOT EXISTS`, which PostgreSQL checks the privileges of
/// first); apply under it fails with a clear message, before it touches VVP.
#[test]
fn a_read_only_role_plans_and_apply_under_it_fails_clearly_without_touching_vvp() {
    let schema = TempSchema::default();
    let emu = Emulator::start(&[]);
    let p = on_postgres(&schema);
    run_pg(&p, &emu, &["apply", "--auto-approve"]).code(0);
    let role = ReadOnlyRole::on(&schema);
    let r = run_as(&p, &emu, &role.dsn(), &["plan", "--detailed-exitcode"]).code(0);
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);

    let spec = p.read("pipelines/orders.toml").replace("parallelism = 2", "parallelism = 3");
    p.write("pipelines/orders.toml", &spec);
    let r = run_as(&p, &emu, &role.dsn(), &["plan", "--detailed-exitcode"]).code(2);
    assert!(r.stdout.contains("~ pipeline \"orders\""), "{}", r.stdout);
    let serial = schema.sql(&["SELECT serial FROM state_head"]);
    let r = run_as(&p, &emu, &role.dsn(), &["apply", "--auto-approve"]).code(1);
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(said.contains("this role may only read the state"), "{said}");
    assert!(!said.contains("host=127.0.0.1"), "the connection string is never shown: {said}");
    assert_eq!(schema.sql(&["SELECT serial FROM state_head"]), serial, "nothing written");
    assert_eq!(managed_deployments(&emu), ["clickstream", "orders"]);
    let d = crate::apply::block_on(crate::apply::client(&emu).find_deployment("orders")).unwrap().unwrap();
    assert_eq!(d.settings.parallelism, Some(2), "VVP untouched");
}
