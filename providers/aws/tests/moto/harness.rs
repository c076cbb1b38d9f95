//! One moto server for this test binary (from the shared launcher, `server`),
//! the providers and SDK clients that talk to it, and shorthands for applying
//! and reading.

use std::path::PathBuf;
use std::sync::OnceLock;

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
use nhi_provider_aws::AwsProvider;
use nhi_provider_sdk::{
    ApplyRequest, ApplyResponse, Operation, Provider, ProviderContext, ProviderError, ReadRequest,
    ReadResponse, Sink,
};
use serde_json::{Value, json};

use crate::server::{self, Server};

/// The moto server this test binary shares.
pub struct Moto {
    server: Server,
}

static MOTO: OnceLock<Option<Moto>> = OnceLock::new();

/// The shared server, or `None` (skip) when moto is not installed outside CI. It
/// is never dropped: moto stops when the test binary exits.
pub fn moto() -> Option<&'static Moto> {
    MOTO.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        server::start(&root).map(|server| Moto { server })
    })
    .as_ref()
}

impl Moto {
    pub fn endpoint(&self) -> &str {
        &self.server.endpoint
    }

    /// A provider for the IAM path `prefix`, with `extra` settings on top.
    pub fn provider(&self, prefix: &str, extra: &Value) -> AwsProvider {
        let mut settings = json!({
            "path_prefix": prefix,
            "endpoint_url": self.server.endpoint,
            "region": "us-east-1",
            "max_attempts": 1,
        });
        for (k, v) in extra.as_object().expect("extra settings are a mapping") {
            settings[k] = v.clone();
        }
        AwsProvider::new(ProviderContext {
            name: "test".into(),
            settings,
            base_dir: std::env::temp_dir(),
        })
        .expect("valid settings")
        .with_static_credentials("testing", "testing")
    }

    fn credentials() -> Credentials {
        Credentials::new("testing", "testing", None, None, "moto")
    }

    /// An IAM client for changes made out of band.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        Self::iam_at(&self.server.endpoint)
    }

    /// An IAM client for the IAM at `endpoint`.
    pub fn iam_at(endpoint: &str) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(endpoint)
                .credentials_provider(Self::credentials())
                .build(),
        )
    }

    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::Config::builder()
                .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
                .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
                .endpoint_url(&self.server.endpoint)
                .credentials_provider(Self::credentials())
                .build(),
        )
    }
}

pub(crate) async fn apply(provider: &AwsProvider, operation: Operation) -> ApplyResponse {
    try_apply(provider, operation, Some(Sink::Stdout))
        .await
        .unwrap()
}

pub(crate) async fn try_apply(
    provider: &AwsProvider,
    operation: Operation,
    sink: Option<Sink>,
) -> Result<ApplyResponse, ProviderError> {
    provider
        .apply(ApplyRequest {
            operation,
            sink,
            progress: nhi_provider_sdk::ProgressSink::default(),
        })
        .await
}

pub(crate) async fn read(provider: &AwsProvider) -> ReadResponse {
    provider.read(ReadRequest::default()).await.unwrap()
}

pub(crate) fn names(response: &ReadResponse) -> Vec<&str> {
    response
        .state
        .identities
        .iter()
        .map(|i| i.identity.name.as_str())
        .collect()
}
