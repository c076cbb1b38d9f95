//! What the provider never does: see or touch roles outside its scope, grant
//! powers that escalate, or create a role it could not see afterwards.

use nhi_provider_sdk::{Operation, PreflightRequest, ProviderError};

use crate::harness::{DB, apply, binding, identity, observed, provider, read, start};

#[tokio::test]
async fn roles_outside_the_scope_are_never_read_or_changed() {
    let Some(server) = start() else { return };
    server.psql(
        DB,
        "CREATE ROLE app_root LOGIN SUPERUSER; CREATE ROLE app_maker LOGIN CREATEROLE; \
         CREATE ROLE app_rls LOGIN BYPASSRLS; CREATE ROLE other_ci LOGIN; \
         COMMENT ON ROLE app_root IS '{\"nhi\":{\"v\":1,\"owner\":\"team\"}}'",
    );
    let p = provider(&server, "app_");
    assert!(read(&*p).await.identities.is_empty());

    // A plan that names them anyway (forged, or stale) changes nothing.
    for name in ["app_root", "app_maker", "app_rls"] {
        let err = apply(
            &*p,
            Operation::DeleteIdentity {
                identity: identity(name, "team"),
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ProviderError::AccessDenied(m) if m.contains("outside this block's scope")),
            "{name}: {err}"
        );
        let err = apply(
            &*p,
            Operation::CreateBinding {
                identity: name.into(),
                binding: binding("SELECT", "table:app.orders"),
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, ProviderError::AccessDenied(_)),
            "{name}: {err}"
        );
    }
    let count =
        "SELECT count(*) FROM pg_roles WHERE rolname IN ('app_root', 'app_maker', 'app_rls')";
    assert_eq!(server.psql(DB, count), "3\n");

    // Preflight says so before anyone approves a plan that creates them.
    let creates = ["app_root", "other_x", "app_new"]
        .map(|n| identity(n, "team"))
        .to_vec();
    let problems = p
        .preflight(PreflightRequest {
            creates,
            ..PreflightRequest::default()
        })
        .await
        .unwrap()
        .problems;
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0].0, "app_root");
    assert!(
        problems[0]
            .1
            .contains("outside this block's scope: it has SUPERUSER"),
        "{problems:?}"
    );
    assert!(
        problems[1].1.contains("does not start with `app_`"),
        "{problems:?}"
    );
    let err = apply(
        &*p,
        Operation::CreateIdentity {
            identity: identity("other_x", "team"),
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("role_prefix"), "{err}");
}

#[tokio::test]
async fn memberships_that_escalate_are_refused() {
    let Some(server) = start() else { return };
    server.psql(DB, "CREATE ROLE admins NOLOGIN CREATEROLE");
    let p = provider(&server, "app_");
    apply(
        &*p,
        Operation::CreateIdentity {
            identity: identity("app_ci", "team"),
        },
    )
    .await
    .unwrap();
    for (group, want) in [
        ("admins", "has CREATEROLE"),
        ("nhi", "has SUPERUSER"),
        ("pg_execute_server_program", "superuser"),
    ] {
        let err = apply(
            &*p,
            Operation::CreateBinding {
                identity: "app_ci".into(),
                binding: binding("member", &format!("role:{group}")),
            },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains(want), "{group}: {err}");
    }
    assert!(observed(&*p, "app_ci").await.unwrap().bindings.is_empty());
}
