//! What the tests share: a provider connected to a test cluster, operations by
//! name, and logging in as a role the way its users would.

use std::process::Command;

use nhi_provider_postgres::PostgresType;
use nhi_provider_sdk::{
    ApplyRequest, ApplyResponse, Binding, Identity, ObservedIdentity, ObservedState, Operation,
    Provider, ProviderContext, ProviderError, ProviderType, ReadRequest, RecordKeyRequest, Sink,
    Tags,
};

use crate::server::{self, SUPERUSER, Server};

/// The database the tests manage grants in.
pub const DB: &str = "postgres";

pub fn start() -> Option<Server> {
    let server = server::start()?;
    server.psql(
        DB,
        "CREATE SCHEMA app; CREATE TABLE app.orders (id int); INSERT INTO app.orders VALUES (1); \
         CREATE ROLE app_readers NOLOGIN; GRANT USAGE ON SCHEMA app TO app_readers;",
    );
    Some(server)
}

pub fn provider(server: &Server, prefix: &str) -> Box<dyn Provider> {
    PostgresType
        .connect(ProviderContext {
            name: "db".into(),
            settings: serde_json::json!({
                "port": server.port,
                "database": DB,
                "user": SUPERUSER,
                "password_file": "superuser.password",
                "role_prefix": prefix,
            }),
            base_dir: server.dir.path().to_path_buf(),
        })
        .expect("settings are valid")
}

pub fn identity(name: &str, owner: &str) -> Identity {
    Identity {
        name: name.into(),
        kind: "login_role".into(),
        owner: owner.into(),
        description: format!("{name} for tests"),
        tags: Tags::from([("env".to_owned(), "test".to_owned())]),
        attributes: std::collections::BTreeMap::default(),
    }
}

pub fn binding(role: &str, resource: &str) -> Binding {
    Binding {
        role: role.into(),
        resource: resource.into(),
        policy: None,
    }
}

pub async fn apply(p: &dyn Provider, operation: Operation) -> Result<ApplyResponse, ProviderError> {
    let sink = operation
        .creates_key()
        .then(|| Sink::File("key.json".into()));
    p.apply(ApplyRequest {
        operation,
        sink,
        progress: nhi_provider_sdk::ProgressSink::default(),
    })
    .await
}

pub async fn read(p: &dyn Provider) -> ObservedState {
    p.read(ReadRequest::default()).await.expect("read").state
}

pub async fn observed(p: &dyn Provider, name: &str) -> Option<ObservedIdentity> {
    read(p)
        .await
        .identities
        .into_iter()
        .find(|i| i.identity.name == name)
}

/// Mints key `key` of `name` as the engine does for a file sink: create, take
/// the secret, record. Returns the key id and the password.
pub async fn mint(p: &dyn Provider, name: &str, key: &str) -> (String, String) {
    let response = apply(
        p,
        Operation::CreateKey {
            identity: name.into(),
            key: key.into(),
        },
    )
    .await
    .expect("create key");
    let secret = response.secret.expect("a secret for a file sink");
    assert_eq!(response.new_key_id.as_deref(), Some(secret.key_id.as_str()));
    p.record_key(RecordKeyRequest {
        identity: name.into(),
        key: key.into(),
        key_id: secret.key_id.clone(),
    })
    .await
    .expect("record key");
    (secret.key_id.clone(), secret.secret.to_string())
}

/// What `sql` prints when run as `role` logged in with `password` over TCP
/// (SCRAM), as its users would; `None` when login or the query fails.
pub fn as_role(server: &Server, role: &str, password: &str, sql: &str) -> Option<String> {
    let output = Command::new(server::psql(server))
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
        ])
        .args(["-U", role, "-d", DB, "-c", sql])
        .env("PGPASSWORD", password)
        .output()
        .expect("run psql");
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub fn can_login(server: &Server, role: &str, password: &str) -> bool {
    as_role(server, role, password, "SELECT 1").is_some()
}
