//! The `postgres` provider served as a plugin (`nhi-provider-postgres`), end to
//! end through the CLI against a throwaway PostgreSQL cluster: create from
//! nothing, converge, correct drift made with `psql`, rotate, refuse a stale
//! plan, prune, keep the password in its sink only; and the conformance kit.

#[path = "../../providers/postgres/tests/postgres/server.rs"]
#[allow(dead_code)]
mod server;

use std::path::{Path, PathBuf};

use crate::flow::{Cloud, changes, no_changes, ok, plan_and_apply, workspace};
use crate::harness::{Run, Workspace};

/// A cluster for one test, stopped when it is dropped.
struct Postgres(server::Server);

impl Cloud for Postgres {
    fn nhi(&self, ws: &Workspace, args: &[&str]) -> Run {
        ws.run_env(args, &[("NHI_NOW", &crate::team::now())])
    }
}

/// The plugin binary, built beside `nhi` by a workspace build.
fn plugin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_nhi")).with_file_name("nhi-provider-postgres");
    assert!(
        bin.is_file(),
        "`{}` is missing: build the workspace (`cargo build --workspace`)",
        bin.display()
    );
    bin
}

fn start() -> Option<Postgres> {
    let server = server::start()?;
    server.psql(
        "postgres",
        "CREATE SCHEMA app; CREATE TABLE app.orders (id int); INSERT INTO app.orders VALUES (1); \
         CREATE ROLE app_readers NOLOGIN; GRANT USAGE ON SCHEMA app TO app_readers;",
    );
    Some(Postgres(server))
}

fn sha256(path: &Path) -> String {
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
    )
}

/// A workspace with the plugin copied in and pinned.
fn plugin_workspace() -> (Workspace, String) {
    let ws = workspace();
    let bin = ws.path().join("bin/nhi-provider-postgres");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(plugin(), &bin).unwrap();
    let digest = sha256(&bin);
    (ws, digest)
}

fn config(pg: &Postgres, digest: &str, extra_binding: &str) -> String {
    let password_file = pg.0.dir.path().join("superuser.password");
    format!(
        r#"version: 1
providers:
  - name: db
    type: plugin
    prune: true
    settings:
      plugin: {{path: bin/nhi-provider-postgres, sha256: "{digest}"}}
      port: {port}
      database: postgres
      user: nhi
      password_file: {password_file}
      role_prefix: app_
identities:
  - name: app_ci
    provider: db
    kind: login_role
    owner: platform@example.com
    description: Runs migrations from CI
    keys:
      - name: primary
        rotate_after: 90d
        sink: {{file: secrets/app_ci.json}}
    bindings:
      - role: member
        resource: role:app_readers
      - role: SELECT
        resource: table:app.orders
{extra_binding}"#,
        port = pg.0.port,
        password_file = password_file.display(),
    )
}

fn login(pg: &Postgres, password: &str) -> Option<String> {
    let output = std::process::Command::new(server::psql(&pg.0))
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-h",
            "127.0.0.1",
            "-p",
            &pg.0.port.to_string(),
        ])
        .args([
            "-U",
            "app_ci",
            "-d",
            "postgres",
            "-c",
            "SELECT count(*) FROM app.orders",
        ])
        .env("PGPASSWORD", password)
        .output()
        .unwrap();
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn secret(ws: &Workspace) -> String {
    let doc: serde_json::Value = serde_json::from_str(&ws.read("secrets/app_ci.json")).unwrap();
    doc["secret"].as_str().unwrap().to_owned()
}

#[test]
fn postgres_plugin_creates_converges_corrects_drift_rotates_and_prunes() {
    let Some(pg) = start() else { return };
    let (ws, digest) = plugin_workspace();
    ws.write("nhi.yaml", &config(&pg, &digest, ""));

    // From nothing.
    let created = plan_and_apply(&pg, &ws, "create.plan");
    assert!(
        created.contains("Plan: 4 to create, 0 to update, 0 to rotate, 0 to delete."),
        "{created}"
    );
    let first = secret(&ws);
    assert_eq!(login(&pg, &first).as_deref(), Some("1"));
    no_changes(&pg, &ws);
    for (what, text) in [
        ("plan", ws.read("create.plan")),
        ("receipt", ws.read("create.plan.receipt.json")),
        ("server log", pg.0.log()),
        ("plan's output", created.clone()),
    ] {
        assert!(!text.contains(&first), "the password is in the {what}");
    }

    // Drift by hand: a grant added, the comment rewritten, a stray login role.
    pg.0.psql(
        "postgres",
        "GRANT INSERT ON app.orders TO app_ci; COMMENT ON ROLE app_ci IS 'mine now'; \
         CREATE ROLE app_stray LOGIN; CREATE ROLE app_root LOGIN SUPERUSER;",
    );
    let drift = pg.nhi(&ws, &["plan", "-o", "drift.plan"]);
    ok(&drift);
    let found = changes(&drift.stdout);
    let has =
        |prefix: &str, what: &str| found.iter().any(|c| c.contains(prefix) && c.contains(what));
    assert!(
        has(
            "/identity/app_ci/binding/INSERT@table:app.orders",
            "will be deleted"
        ),
        "{found:?}"
    );
    assert!(has("/identity/app_ci will be updated", ""), "{found:?}");
    assert!(has("/identity/app_stray", "will be deleted"), "{found:?}");
    assert!(
        !drift.stdout.contains("app_root"),
        "a superuser is never in scope: {}",
        drift.stdout
    );
    // The hand-written comment took the key's name with it: the key is replaced.
    assert!(has("/identity/app_ci/key/", "will be"), "{found:?}");
    ok(&pg.nhi(&ws, &["apply", "drift.plan", "--trust", "trust.yaml"]));
    no_changes(&pg, &ws);
    assert_eq!(
        pg.0.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'app_stray'"
        ),
        "0\n"
    );
    let second = secret(&ws);
    assert_ne!(first, second);
    assert_eq!(login(&pg, &first), None);
    assert_eq!(login(&pg, &second).as_deref(), Some("1"));

    // Rotation on request: the new password works, the old one at once no longer.
    std::fs::remove_file(ws.path().join("secrets/app_ci.json")).unwrap();
    let address = {
        let state = pg.0.psql(
            "postgres",
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'app_ci'",
        );
        let record: serde_json::Value = serde_json::from_str(state.trim()).unwrap();
        let id = record["nhi"]["key"]["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("scram-"), "{id}");
        format!(
            "{}/identity/app_ci/key/primary",
            address_prefix(&drift.stdout)
        )
    };
    let rotate = pg.nhi(&ws, &["plan", "-o", "rotate.plan", "--replace", &address]);
    ok(&rotate);
    assert!(rotate.stdout.contains("1 to rotate"), "{}", rotate.stdout);
    ok(&pg.nhi(&ws, &["apply", "rotate.plan", "--trust", "trust.yaml"]));
    let third = secret(&ws);
    assert_eq!(login(&pg, &second), None);
    assert_eq!(login(&pg, &third).as_deref(), Some("1"));
    no_changes(&pg, &ws);

    // Stale: a change between plan and apply refuses the plan and changes nothing.
    ws.write(
        "nhi.yaml",
        &config(
            &pg,
            &digest,
            "      - role: USAGE\n        resource: schema:app\n",
        ),
    );
    ok(&pg.nhi(&ws, &["plan", "-o", "more.plan"]));
    pg.0.psql("postgres", "COMMENT ON ROLE app_ci IS 'changed by hand'");
    let refused = pg.nhi(&ws, &["apply", "more.plan", "--trust", "trust.yaml"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nhi::plan::stale"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        pg.0.psql(
            "postgres",
            "SELECT count(*) FROM pg_namespace n, aclexplode(n.nspacl) a \
             WHERE n.nspname = 'app' AND a.grantee = 'app_ci'::regrole"
        ),
        "0\n",
        "the stale plan granted nothing"
    );
    plan_and_apply(&pg, &ws, "fresh.plan");
    no_changes(&pg, &ws);

    // No secret anywhere but the sinks.
    for entry in std::fs::read_dir(ws.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && !path.ends_with("nhi-provider-postgres") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for s in [&first, &second, &third] {
                assert!(
                    !text.contains(s.as_str()),
                    "a password is in `{}`",
                    path.display()
                );
            }
        }
    }
    assert!(
        !pg.0.log().contains(&third),
        "the server log holds the password"
    );
}

/// The `<type>.<block>` prefix of the addresses a plan prints.
fn address_prefix(plan: &str) -> String {
    let line = changes(plan).into_iter().next().expect("a change");
    line.split("/identity/").next().unwrap().to_owned()
}

#[test]
fn the_postgres_plugin_passes_the_conformance_kit() {
    let Some(pg) = start() else { return };
    let ws = Workspace::empty();
    let settings = format!(
        "port: {}\ndatabase: postgres\nuser: nhi\npassword_file: {}\nrole_prefix: kit_\n\
         kit:\n  names: [kit_alpha, kit_beta]\n  bindings:\n    - {{role: CONNECT, resource: \"database:postgres\"}}\n",
        pg.0.port,
        pg.0.dir.path().join("superuser.password").display()
    );
    ws.write("settings.yaml", &settings);
    let kit = ws.run(&[
        "provider",
        "test",
        &plugin().display().to_string(),
        "--settings",
        "settings.yaml",
    ]);
    assert_eq!(kit.code, 0, "{}\n{}", kit.stdout, kit.stderr);
    assert!(kit.stdout.contains("against `postgres "), "{}", kit.stdout);
    // Without `test_mutate`, drift and staleness are checked by the tests above.
    assert!(
        kit.stdout.contains("9 passed, 0 failed, 2 skipped"),
        "{}",
        kit.stdout
    );
}

#[test]
fn the_postgres_example_walkthrough_runs() {
    // The walkthrough starts a cluster of its own; this one only skips the test
    // where PostgreSQL is not installed.
    let Some(_pg) = start() else { return };
    plugin();
    let out = crate::flow::walkthrough("postgres");
    assert!(out.contains("Plan: 9 to create"), "{out}");
    assert!(
        out.lines().any(|l| l.trim() == "1"),
        "app_reports read the table: {out}"
    );
    assert!(
        out.contains("/identity/app_migrator/binding/DELETE@table:app.orders will be deleted"),
        "{out}"
    );
    assert!(
        out.contains("/identity/app_backdoor will be deleted"),
        "{out}"
    );
    assert!(out.contains("No changes"), "{out}");
}
