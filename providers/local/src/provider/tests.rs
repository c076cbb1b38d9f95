//! Tests of the connected provider through the `Provider` trait: files on disk,
//! caching against other writers, locks, and a large estate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nhi_provider_sdk::{
    Binding, Identity, KeyStatus, ObservedKey, Operation, ProviderContext, ProviderType,
};
use serde_json::json;

use super::*;
use crate::LocalType;

fn connect(dir: &Path) -> Box<dyn Provider> {
    LocalType
        .connect(ProviderContext {
            name: "demo".into(),
            settings: json!({"state": "estate.json"}),
            base_dir: dir.to_owned(),
        })
        .unwrap()
}

fn identity(name: &str, kind: &str) -> Identity {
    Identity {
        name: name.to_owned(),
        kind: kind.to_owned(),
        owner: "team-a".to_owned(),
        description: "deploys".to_owned(),
        tags: nhi_provider_sdk::Tags::from([("env".to_owned(), "prod".to_owned())]),
        attributes: BTreeMap::new(),
    }
}

fn viewer(policy: serde_json::Value) -> Binding {
    Binding {
        role: "viewer".into(),
        resource: "bucket/a".into(),
        policy: Some(policy.into()),
    }
}

async fn apply(
    provider: &dyn Provider,
    operation: Operation,
) -> Result<ApplyResponse, ProviderError> {
    provider
        .apply(ApplyRequest {
            operation,
            sink: None,
            progress: nhi_provider_sdk::ProgressSink::default(),
        })
        .await
}

async fn record(provider: &dyn Provider, key: &str, key_id: &str) {
    provider
        .record_key(RecordKeyRequest {
            identity: "ci".into(),
            key: key.into(),
            key_id: key_id.into(),
        })
        .await
        .unwrap();
}

async fn read(provider: &dyn Provider) -> Vec<ObservedIdentity> {
    let response = provider.read(ReadRequest::default()).await.unwrap();
    assert_eq!(response.api_calls, 1);
    response.state.identities
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn missing_estate_reads_empty_and_describes_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let provider = connect(dir.path());
    assert_eq!(read(&*provider).await, []);
    assert_eq!(
        provider.describe().await.unwrap().scope,
        "estate file `estate.json`"
    );
    assert!(
        entries(dir.path()).is_empty(),
        "reading must not create the estate"
    );
}

#[tokio::test]
async fn every_operation_round_trips_through_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("estate.json");
    let provider = connect(dir.path());
    let ci = identity("ci", "service_account");
    let ci_role = identity("ci", "role");

    apply(
        &*provider,
        Operation::CreateIdentity {
            identity: identity("zz", "user"),
        },
    )
    .await
    .unwrap();
    apply(
        &*provider,
        Operation::CreateIdentity {
            identity: ci.clone(),
        },
    )
    .await
    .unwrap();
    let updated = Identity {
        owner: "team-b".into(),
        ..ci.clone()
    };
    apply(
        &*provider,
        Operation::UpdateIdentity {
            before: ci.clone(),
            after: updated.clone(),
        },
    )
    .await
    .unwrap();
    apply(
        &*provider,
        Operation::ReplaceIdentity {
            before: updated,
            after: ci_role.clone(),
        },
    )
    .await
    .unwrap();
    let first = apply(
        &*provider,
        Operation::CreateKey {
            identity: "ci".into(),
            key: "primary".into(),
        },
    )
    .await
    .unwrap()
    .secret
    .unwrap();
    let observed = read(&*provider).await;
    let old = observed[0].keys[0].clone();
    assert_eq!(old.id, first.key_id);
    assert_eq!(old.name, None, "named only once its secret is delivered");
    record(&*provider, "primary", &first.key_id).await;
    // A rotation, as the engine applies it: a new key, delivered and recorded,
    // then the old key deleted.
    let refused = apply(
        &*provider,
        Operation::RotateKey {
            identity: "ci".into(),
            key: "primary".into(),
            old: old.clone(),
            deactivate_old: false,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "a rotation is applied as a new key, then the deletion of the old one"
    );
    let second = apply(
        &*provider,
        Operation::CreateKey {
            identity: "ci".into(),
            key: "primary".into(),
        },
    )
    .await
    .unwrap()
    .secret
    .unwrap();
    record(&*provider, "primary", &second.key_id).await;
    apply(
        &*provider,
        Operation::DeleteKey {
            identity: "ci".into(),
            key: old,
        },
    )
    .await
    .unwrap();
    apply(
        &*provider,
        Operation::CreateKey {
            identity: "ci".into(),
            key: "backup".into(),
        },
    )
    .await
    .unwrap();
    let backup = read(&*provider).await[0].keys[1].clone();
    apply(
        &*provider,
        Operation::DeleteKey {
            identity: "ci".into(),
            key: backup,
        },
    )
    .await
    .unwrap();
    let binding = viewer(json!({"allow": ["read"]}));
    apply(
        &*provider,
        Operation::CreateBinding {
            identity: "ci".into(),
            binding: binding.clone(),
        },
    )
    .await
    .unwrap();
    let widened = viewer(json!({"allow": ["read", "list"]}));
    apply(
        &*provider,
        Operation::UpdateBinding {
            identity: "ci".into(),
            before: binding,
            after: widened.clone(),
        },
    )
    .await
    .unwrap();
    let extra = Binding {
        role: "admin".into(),
        resource: "*".into(),
        policy: None,
    };
    apply(
        &*provider,
        Operation::CreateBinding {
            identity: "ci".into(),
            binding: extra.clone(),
        },
    )
    .await
    .unwrap();
    apply(
        &*provider,
        Operation::DeleteBinding {
            identity: "ci".into(),
            binding: extra,
        },
    )
    .await
    .unwrap();
    apply(
        &*provider,
        Operation::DeleteIdentity {
            identity: identity("zz", "user"),
        },
    )
    .await
    .unwrap();

    let observed = read(&*provider).await;
    let key = &observed[0].keys[0];
    assert_eq!(key.id, second.key_id);
    assert!(key.id.starts_with("LK") && key.id.len() == 20, "{}", key.id);
    assert_eq!(key.created.subsec_nanosecond(), 0);
    let age = jiff::Timestamp::now().duration_since(key.created);
    assert!(
        age >= jiff::SignedDuration::ZERO && age < jiff::SignedDuration::from_secs(60),
        "{age:?}"
    );
    let want = vec![ObservedIdentity {
        identity: ci_role,
        keys: vec![ObservedKey {
            id: second.key_id.clone(),
            name: Some("primary".into()),
            created: key.created,
            status: KeyStatus::Active,
            last_used: None,
            expires: None,
            leaked: None,
        }],
        bindings: vec![widened],
    }];
    assert_eq!(observed, want);

    // The file holds exactly this, and is what a fresh provider (another process) reads.
    let bytes = std::fs::read(&path).unwrap();
    let mut expected = Vec::new();
    estate::encode(&mut expected, &want).unwrap();
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        String::from_utf8(expected).unwrap()
    );
    assert_eq!(read(&*connect(dir.path())).await, want);

    // Secrets went to the caller, never to disk.
    for secret in [&first.secret, &second.secret] {
        assert!(secret.starts_with("nhi-local-secret-"));
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "secret written to the estate"
        );
    }
    assert!(!String::from_utf8_lossy(&bytes).contains("nhi-local-secret"));
    assert_eq!(
        entries(dir.path()),
        ["estate.json"],
        "temp files left behind"
    );
}

#[tokio::test]
async fn rerunning_an_apply_converges_without_rewriting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("estate.json");
    let provider = connect(dir.path());
    let ci = identity("ci", "user");
    let binding = viewer(json!({}));
    let operations = [
        Operation::CreateIdentity {
            identity: ci.clone(),
        },
        Operation::CreateBinding {
            identity: "ci".into(),
            binding: binding.clone(),
        },
        Operation::DeleteBinding {
            identity: "ci".into(),
            binding,
        },
        Operation::DeleteIdentity { identity: ci },
    ];
    for operation in operations {
        apply(&*provider, operation.clone()).await.unwrap();
        let stamp = estate::current_stamp(&path).unwrap();
        let again = apply(&*provider, operation.clone()).await.unwrap();
        assert!(again.secret.is_none());
        assert_eq!(
            estate::current_stamp(&path).unwrap(),
            stamp,
            "no-op rewrote the estate: {operation:?}"
        );
    }
    assert_eq!(read(&*provider).await, []);
}

#[tokio::test]
async fn writes_by_another_process_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("estate.json");
    let ours = connect(dir.path());
    let theirs = connect(dir.path());
    apply(
        &*ours,
        Operation::CreateIdentity {
            identity: identity("a", "user"),
        },
    )
    .await
    .unwrap();
    apply(
        &*theirs,
        Operation::CreateIdentity {
            identity: identity("b", "user"),
        },
    )
    .await
    .unwrap();
    apply(
        &*ours,
        Operation::CreateIdentity {
            identity: identity("c", "user"),
        },
    )
    .await
    .unwrap();
    let names: Vec<String> = read(&*ours)
        .await
        .into_iter()
        .map(|i| i.identity.name)
        .collect();
    assert_eq!(names, ["a", "b", "c"]);

    // Someone deletes the estate: it is empty again, not served from memory.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(read(&*ours).await, []);
    let err = apply(
        &*ours,
        Operation::CreateKey {
            identity: "a".into(),
            key: "k".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "identity `a` does not exist");
}

#[tokio::test]
async fn corrupt_estates_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("estate.json");
    let provider = connect(dir.path());
    let mut deep = b"{\"nhi_local_estate\":1,\"identities\":".to_vec();
    deep.resize(2 * 1024 * 1024, b'[');
    let cases: [(&str, &[u8]); 4] = [
        ("garbage", b"\x00garbage"),
        ("version", br#"{"nhi_local_estate":7,"identities":[]}"#),
        (
            "duplicates",
            br#"{"nhi_local_estate":1,"identities":[{"name":"a","kind":"user","owner":"o"},{"name":"a","kind":"user","owner":"o"}]}"#,
        ),
        ("deep", &deep),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, bytes).unwrap();
        let err = provider.read(ReadRequest::default()).await.unwrap_err();
        let ProviderError::Corrupt(message) = &err else {
            panic!("{what}: {err}")
        };
        assert!(
            message.contains(&format!("`{}`", path.display())),
            "{what}: {message}"
        );
        let err = apply(
            &*provider,
            Operation::CreateIdentity {
                identity: identity("x", "user"),
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ProviderError::Corrupt(_)), "{what}: {err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{what}");
    }
    let err = provider.read(ReadRequest::default()).await.unwrap_err();
    assert!(
        err.to_string().contains("has format version") || err.to_string().contains("line 1"),
        "{err}"
    );
}

#[tokio::test]
async fn lock_is_exclusive_across_providers_and_released_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let alice = connect(dir.path());
    let bob = connect(dir.path());
    let ask = |holder: &str, timeout| LockRequest {
        holder: holder.into(),
        timeout,
    };

    let held = alice
        .lock(ask("alice@laptop", Duration::ZERO))
        .await
        .unwrap();
    let Err(ProviderError::Locked { holder }) = bob.lock(ask("bob", Duration::ZERO)).await else {
        panic!("lock taken twice")
    };
    assert!(holder.starts_with("alice@laptop (pid "), "{holder}");
    drop(held);
    let _held = bob.lock(ask("bob", Duration::from_secs(1))).await.unwrap();
    assert_eq!(entries(dir.path()), ["estate.json.lock"]);
}

#[tokio::test]
async fn reads_a_large_estate() {
    const COUNT: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let identities: Vec<ObservedIdentity> = (0..COUNT)
        .map(|i| ObservedIdentity {
            identity: Identity {
                name: format!("svc-{i:06}"),
                ..identity("", "service_account")
            },
            keys: vec![ObservedKey {
                id: format!("LK{i:018}"),
                name: Some("primary".into()),
                created: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
                status: KeyStatus::Active,
                last_used: None,
                expires: None,
                leaked: None,
            }],
            bindings: vec![Binding {
                role: "viewer".into(),
                resource: "*".into(),
                policy: None,
            }],
        })
        .collect();
    let path = dir.path().join("estate.json");
    crate::write_estate(&path, &ObservedState { identities }).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();

    let provider = connect(dir.path());
    let started = Instant::now();
    let observed = read(&*provider).await;
    let elapsed = started.elapsed();
    #[allow(clippy::print_stderr)]
    {
        eprintln!("read {COUNT} identities ({size} bytes) in {elapsed:?} (debug build)");
    }
    assert_eq!(observed.len(), COUNT);
    assert!(
        observed
            .windows(2)
            .all(|w| w[0].identity.name < w[1].identity.name)
    );
}

/// Regression: a symlinked estate was replaced by a regular file on first write,
/// forking the estate. Writes go through to the file the link names, and a
/// link that leads nowhere is refused.
#[tokio::test]
async fn a_symlinked_estate_is_written_through_not_forked() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("shared");
    std::fs::create_dir(&real).unwrap();
    std::fs::write(
        real.join("estate.json"),
        "{\"nhi_local_estate\":1,\"identities\":[]}\n",
    )
    .unwrap();
    let link = dir.path().join("estate.json");
    std::os::unix::fs::symlink(real.join("estate.json"), &link).unwrap();
    let provider = connect(dir.path());
    let described = provider.describe().await.unwrap();
    let real_file = std::fs::canonicalize(real.join("estate.json")).unwrap();
    assert!(described.files.contains(&real_file), "{described:?}");
    apply(
        &*provider,
        Operation::CreateIdentity {
            identity: identity("ci", "service_account"),
        },
    )
    .await
    .unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        read(&*connect(&real)).await.len(),
        1,
        "the real estate changed"
    );
    assert_eq!(entries(&real), ["estate.json"]);

    std::fs::remove_file(real.join("estate.json")).unwrap();
    let err = apply(
        &*provider,
        Operation::CreateIdentity {
            identity: identity("cd", "service_account"),
        },
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("estate file `estate.json` is a symbolic link that leads nowhere"),
        "{err}"
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}
