//! Create from nothing, converge, drift by hand, rotate and prune, against a
//! real server.

use nhi_provider_sdk::{KeyStatus, LockRequest, Operation, RecordKeyRequest};

use crate::harness::{
    DB, apply, as_role, binding, can_login, identity, mint, observed, provider, read, start,
};

#[tokio::test]
async fn a_role_is_created_from_nothing_and_reads_back_as_declared() {
    let Some(server) = start() else { return };
    let p = provider(&server, "app_");
    assert!(
        read(&*p).await.identities.is_empty(),
        "app_readers is no login role"
    );

    let wanted = identity("app_ci", "platform@example.com");
    apply(
        &*p,
        Operation::CreateIdentity {
            identity: wanted.clone(),
        },
    )
    .await
    .unwrap();
    let (key_id, secret) = mint(&*p, "app_ci", "primary").await;
    let bindings = [
        binding("member", "role:app_readers"),
        binding("SELECT", "table:app.orders"),
        binding("CONNECT", &format!("database:{DB}")),
    ];
    for b in &bindings {
        apply(
            &*p,
            Operation::CreateBinding {
                identity: "app_ci".into(),
                binding: b.clone(),
            },
        )
        .await
        .unwrap();
    }

    let state = read(&*p).await;
    let [got] = state.identities.as_slice() else {
        panic!("{state:?}")
    };
    assert_eq!(got.identity, wanted);
    let [key] = got.keys.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(
        (key.id.as_str(), key.name.as_deref()),
        (key_id.as_str(), Some("primary"))
    );
    assert_eq!(key.status, KeyStatus::Active);
    let mut want = bindings.to_vec();
    want.sort_by(|a, b| (&a.role, &a.resource).cmp(&(&b.role, &b.resource)));
    assert_eq!(got.bindings, want);

    // The password works, and so do the grants (USAGE comes through app_readers).
    assert_eq!(
        as_role(
            &server,
            "app_ci",
            &secret,
            "SELECT count(*) FROM app.orders"
        )
        .as_deref(),
        Some("1")
    );
    // Converged: the same state, byte for byte, on every read.
    assert_eq!(read(&*p).await.digest(), state.digest());
    // Creating it again (a re-run after a partial failure) changes nothing.
    apply(
        &*p,
        Operation::CreateIdentity {
            identity: wanted.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(read(&*p).await.digest(), state.digest());

    // The server saw a verifier, never the password (every statement is logged).
    let log = server.log();
    assert!(
        log.contains("PASSWORD 'SCRAM-SHA-256$4096:"),
        "the log shows the ALTER ROLE"
    );
    assert!(!log.contains(&secret), "the server log holds the password");
    assert!(!format!("{state:?}").contains(&secret));
    assert!(!key_id.contains(&secret[..16]));
}

#[tokio::test]
async fn drift_made_by_hand_shows_in_the_next_read() {
    let Some(server) = start() else { return };
    let p = provider(&server, "app_");
    apply(
        &*p,
        Operation::CreateIdentity {
            identity: identity("app_ci", "team"),
        },
    )
    .await
    .unwrap();
    let (key_id, _secret) = mint(&*p, "app_ci", "primary").await;
    let converged = read(&*p).await;

    // A grant added by hand, with its grant option.
    server.psql(DB, "GRANT SELECT ON app.orders TO app_ci WITH GRANT OPTION");
    let got = observed(&*p, "app_ci").await.unwrap();
    let [grant] = got.bindings.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(
        (grant.role.as_str(), grant.resource.as_str()),
        ("SELECT", "table:app.orders")
    );
    assert_eq!(
        grant.policy.as_ref().unwrap().as_str(),
        r#"{"grant_option":true}"#
    );
    // The plan's update makes it exactly as declared: no grant option.
    apply(
        &*p,
        Operation::UpdateBinding {
            identity: "app_ci".into(),
            before: grant.clone(),
            after: binding("SELECT", "table:app.orders"),
        },
    )
    .await
    .unwrap();
    let got = observed(&*p, "app_ci").await.unwrap();
    assert_eq!(got.bindings, [binding("SELECT", "table:app.orders")]);

    // A table whose name needs quoting reads as a resource that names it exactly.
    server.psql(
        DB,
        r#"CREATE TABLE app."we.ird""t" (x int); GRANT INSERT ON app."we.ird""t" TO app_ci"#,
    );
    let got = observed(&*p, "app_ci").await.unwrap();
    let weird = got
        .bindings
        .iter()
        .find(|b| b.role == "INSERT")
        .unwrap()
        .clone();
    assert_eq!(weird.resource, r#"table:app."we.ird""t""#);
    apply(
        &*p,
        Operation::DeleteBinding {
            identity: "app_ci".into(),
            binding: weird,
        },
    )
    .await
    .unwrap();
    let got = observed(&*p, "app_ci").await.unwrap();
    assert_eq!(got.bindings, [binding("SELECT", "table:app.orders")]);

    // The comment edited by hand: the record is gone, so owner and key name are.
    server.psql(
        DB,
        "COMMENT ON ROLE app_ci IS '{\"nhi\":{\"v\":1,\"owner\":\"x\",\"admin\":true}}'",
    );
    let got = observed(&*p, "app_ci").await.unwrap();
    assert_eq!(
        (
            got.identity.owner.as_str(),
            got.identity.description.as_str()
        ),
        ("", "")
    );
    assert_eq!(
        got.keys[0].name, None,
        "a key named by a record nobody trusts"
    );
    apply(
        &*p,
        Operation::UpdateIdentity {
            before: got.identity.clone(),
            after: identity("app_ci", "team"),
        },
    )
    .await
    .unwrap();
    // Rewriting the record keeps nothing of the hand-made one, and names no key.
    let got = observed(&*p, "app_ci").await.unwrap();
    assert_eq!(got.identity.owner, "team");
    assert_eq!(got.keys[0].name, None);
    p.record_key(RecordKeyRequest {
        identity: "app_ci".into(),
        key: "primary".into(),
        key_id: key_id.clone(),
    })
    .await
    .expect_err("the record was rewritten without the key");
    let (key_id, secret) = mint(&*p, "app_ci", "primary").await;

    // A password set out of band: an unnamed key of unknown age, not the old one.
    server.psql(DB, "ALTER ROLE app_ci PASSWORD 'set-by-hand'");
    let got = observed(&*p, "app_ci").await.unwrap();
    let [key] = got.keys.as_slice() else {
        panic!("{got:?}")
    };
    assert_ne!(key.id, key_id);
    assert_eq!(
        (key.name.as_deref(), key.created),
        (None, jiff::Timestamp::UNIX_EPOCH)
    );
    assert!(!can_login(&server, "app_ci", &secret));
    // Deleting the old key leaves the new password alone (the key is gone).
    let old = nhi_provider_sdk::ObservedKey {
        id: key_id,
        ..key.clone()
    };
    apply(
        &*p,
        Operation::DeleteKey {
            identity: "app_ci".into(),
            key: old,
        },
    )
    .await
    .unwrap();
    assert!(can_login(&server, "app_ci", "set-by-hand"));
    // Deleting the unnamed key removes it.
    apply(
        &*p,
        Operation::DeleteKey {
            identity: "app_ci".into(),
            key: key.clone(),
        },
    )
    .await
    .unwrap();
    assert!(!can_login(&server, "app_ci", "set-by-hand"));
    assert!(observed(&*p, "app_ci").await.unwrap().keys.is_empty());
    assert_ne!(read(&*p).await.digest(), converged.digest());
}

#[tokio::test]
async fn rotation_replaces_the_password_at_once_and_deactivation_keeps_it_unusable() {
    let Some(server) = start() else { return };
    let p = provider(&server, "app_");
    apply(
        &*p,
        Operation::CreateIdentity {
            identity: identity("app_ci", "team"),
        },
    )
    .await
    .unwrap();
    let (old_id, old_secret) = mint(&*p, "app_ci", "primary").await;
    let old = observed(&*p, "app_ci").await.unwrap().keys[0].clone();
    // The engine's rotation: a new key, delivered and recorded, then the old deleted.
    let (new_id, new_secret) = mint(&*p, "app_ci", "primary").await;
    assert_ne!(old_id, new_id);
    assert!(
        !can_login(&server, "app_ci", &old_secret),
        "the old password is gone at once"
    );
    assert!(can_login(&server, "app_ci", &new_secret));
    apply(
        &*p,
        Operation::DeleteKey {
            identity: "app_ci".into(),
            key: old,
        },
    )
    .await
    .unwrap();
    let got = observed(&*p, "app_ci").await.unwrap();
    let [key] = got.keys.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(
        (key.id.as_str(), key.name.as_deref()),
        (new_id.as_str(), Some("primary"))
    );
    assert!(
        can_login(&server, "app_ci", &new_secret),
        "deleting the old key kept the new"
    );

    apply(
        &*p,
        Operation::DeactivateKey {
            identity: "app_ci".into(),
            key: key.clone(),
        },
    )
    .await
    .unwrap();
    let got = observed(&*p, "app_ci").await.unwrap();
    assert_eq!(got.keys[0].status, KeyStatus::Inactive);
    assert_eq!(got.keys[0].id, new_id);
    assert!(!can_login(&server, "app_ci", &new_secret));
}

#[tokio::test]
async fn prune_drops_the_role_and_a_second_prune_is_done() {
    let Some(server) = start() else { return };
    let p = provider(&server, "app_");
    let wanted = identity("app_old", "team");
    apply(
        &*p,
        Operation::CreateIdentity {
            identity: wanted.clone(),
        },
    )
    .await
    .unwrap();
    mint(&*p, "app_old", "primary").await;
    let select = binding("SELECT", "table:app.orders");
    apply(
        &*p,
        Operation::CreateBinding {
            identity: "app_old".into(),
            binding: select.clone(),
        },
    )
    .await
    .unwrap();
    // A role that still holds a grant cannot be dropped, and says why.
    let err = apply(
        &*p,
        Operation::DeleteIdentity {
            identity: wanted.clone(),
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("revoke them by hand"), "{err}");
    // As the engine prunes: bindings first, then the role.
    apply(
        &*p,
        Operation::DeleteBinding {
            identity: "app_old".into(),
            binding: select,
        },
    )
    .await
    .unwrap();
    apply(
        &*p,
        Operation::DeleteIdentity {
            identity: wanted.clone(),
        },
    )
    .await
    .unwrap();
    assert!(read(&*p).await.identities.is_empty());
    assert_eq!(
        server.psql(
            DB,
            "SELECT count(*) FROM pg_roles WHERE rolname = 'app_old'"
        ),
        "0\n"
    );
    apply(&*p, Operation::DeleteIdentity { identity: wanted })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_scope_lock_is_held_until_dropped_and_names_its_holder() {
    let Some(server) = start() else { return };
    let p = provider(&server, "app_");
    let request = |holder: &str, secs| LockRequest {
        holder: holder.into(),
        timeout: std::time::Duration::from_secs(secs),
    };
    let held = p.lock(request("alice@ci-1 pid 7", 0)).await.unwrap();
    let Err(err) = p.lock(request("bob", 0)).await else {
        panic!("locked twice")
    };
    let err = err.to_string();
    assert!(err.contains("alice@ci-1 pid 7"), "{err}");
    // Another prefix is another scope.
    provider(&server, "ops_")
        .lock(request("carol", 0))
        .await
        .unwrap();
    drop(held);
    // The server releases it as the session closes; wait for that.
    p.lock(request("bob", 10)).await.unwrap();
}
