//! The S3 calls shared state needs, through the official `aws-sdk-s3`:
//! bounded reads, listings, and writes that are conditional on what the writer
//! last saw (`If-None-Match: *` to create, `If-Match: <etag>` to replace).
//!
//! The client runs on a runtime of its own, so that the log code calls it from
//! synchronous code, and a lease keeps renewing while the apply that holds it
//! waits on anything else. Before the first write to a bucket and prefix the
//! store is probed: a second create of the same key must fail with 412, since a
//! store that ignores `If-None-Match` gives no exclusion at all.

use std::future::Future;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::primitives::ByteStream;

use super::S3Settings;

/// Why an S3 call did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Error {
    /// The condition did not hold: the key exists (create), or holds another
    /// version than the one named (replace), or a concurrent conditional write
    /// won (409).
    Precondition,
    /// Anything else, as the SDK explains it.
    Failed(String),
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Precondition => f.write_str("the object changed (precondition failed)"),
            Self::Failed(detail) => f.write_str(detail),
        }
    }
}

/// What a write is conditional on.
#[derive(Debug, Clone, Copy)]
pub enum Condition<'a> {
    /// The key must not exist (`If-None-Match: *`).
    Absent,
    /// The key must hold the version with this `ETag` (`If-Match`).
    Matches(&'a str),
}

/// An object as read: its bytes and the `ETag` that names this version.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// A bucket and prefix, with a client and the runtime it runs on.
pub struct Bucket {
    client: aws_sdk_s3::Client,
    pub settings: S3Settings,
    runtime: Option<tokio::runtime::Runtime>,
    /// The probe's verdict, once made.
    probed: Mutex<Option<Result<(), ProbeError>>>,
}

/// The store ignored a conditional create, or the probe could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    Unconditional,
    Failed(String),
}

impl Drop for Bucket {
    fn drop(&mut self) {
        // Dropped from async code too, where a runtime may not block.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("url", &self.settings.url())
            .finish_non_exhaustive()
    }
}

impl Bucket {
    /// A client for `settings`, with credentials from the standard AWS chain.
    /// Makes no request.
    pub fn connect(settings: &S3Settings) -> Result<Arc<Self>, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("nhi-s3")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the S3 client's runtime: {e}"))?;
        let config = {
            let settings = settings.clone();
            run_on(&runtime, async move {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
                if let Some(region) = &settings.region {
                    loader = loader.region(aws_config::Region::new(region.clone()));
                }
                if let Some(url) = &settings.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                loader.load().await
            })
        };
        let mut builder = aws_sdk_s3::config::Builder::from(&config);
        if settings.endpoint_url.is_some() {
            // An endpoint of one's own has no bucket subdomains.
            builder = builder.force_path_style(true);
        }
        Ok(Arc::new(Self {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            settings: settings.clone(),
            runtime: Some(runtime),
            probed: Mutex::new(None),
        }))
    }

    fn key(&self, name: &str) -> String {
        if self.settings.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.settings.prefix)
        }
    }

    /// `s3://bucket/prefix/name`, for messages.
    pub fn url_of(&self, name: &str) -> String {
        format!("s3://{}/{}", self.settings.bucket, self.key(name))
    }

    fn block<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        run_on(
            self.runtime
                .as_ref()
                .expect("invariant: the runtime lives as long as the bucket"),
            future,
        )
    }

    /// Spawns `future` on the bucket's runtime (a lease's renewals).
    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(future);
        }
    }

    /// The object at `name` (under the prefix), or `None` when there is none.
    /// Larger than `limit` bytes is an error, refused before it is read whole.
    pub fn get(&self, name: &str, limit: u64) -> Result<Option<Object>, S3Error> {
        self.block(self.get_future(name, limit))
    }

    /// [`Self::get`] as a future of its own, for the bucket's runtime.
    pub(crate) fn get_future(
        &self,
        name: &str,
        limit: u64,
    ) -> impl Future<Output = Result<Option<Object>, S3Error>> + Send + 'static {
        let request = self
            .client
            .get_object()
            .bucket(&self.settings.bucket)
            .key(self.key(name));
        async move {
            let output = match request.send().await {
                Ok(output) => output,
                Err(e)
                    if e.as_service_error().is_some_and(
                        aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key,
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) if status(&e) == Some(404) => return Ok(None),
                Err(e) => return Err(failed(&e)),
            };
            let length = output.content_length().unwrap_or(0);
            if u64::try_from(length).unwrap_or(u64::MAX) > limit {
                return Err(S3Error::Failed(format!("larger than {limit} bytes")));
            }
            let etag = output
                .e_tag()
                .map(str::to_owned)
                .ok_or_else(|| S3Error::Failed("the store sent no ETag".into()))?;
            let bytes = output
                .body
                .collect()
                .await
                .map_err(|e| S3Error::Failed(e.to_string()))?
                .into_bytes()
                .to_vec();
            if bytes.len() as u64 > limit {
                return Err(S3Error::Failed(format!("larger than {limit} bytes")));
            }
            Ok(Some(Object { bytes, etag }))
        }
    }

    /// Writes `bytes` at `name` only if `condition` holds; returns the new
    /// version's `ETag`.
    pub fn put(
        &self,
        name: &str,
        bytes: &[u8],
        condition: Condition<'_>,
    ) -> Result<String, S3Error> {
        self.block(self.put_future(name, bytes, condition))
    }

    /// [`Self::put`] as a future of its own, for the bucket's runtime.
    pub(crate) fn put_future(
        &self,
        name: &str,
        bytes: &[u8],
        condition: Condition<'_>,
    ) -> impl Future<Output = Result<String, S3Error>> + Send + 'static {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.settings.bucket)
            .key(self.key(name))
            .content_type("application/json")
            .body(ByteStream::from(bytes.to_vec()));
        request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Matches(etag) => request.if_match(etag),
        };
        async move {
            match request.send().await {
                Ok(output) => output
                    .e_tag()
                    .map(str::to_owned)
                    .ok_or_else(|| S3Error::Failed("the store sent no ETag".into())),
                // 404: an `If-Match` on a key that is gone.
                Err(e) if matches!(status(&e), Some(412 | 409 | 404)) => Err(S3Error::Precondition),
                Err(e) => Err(failed(&e)),
            }
        }
    }

    /// The names under `<prefix>/<dir>/`, relative to it, in key order; at most
    /// `limit` of them.
    pub fn list(&self, dir: &str, limit: usize) -> Result<Vec<String>, S3Error> {
        let client = self.client.clone();
        let bucket = self.settings.bucket.clone();
        let prefix = format!("{}/", self.key(dir));
        self.block(async move {
            let mut names = Vec::new();
            let mut token = None;
            loop {
                let page = client
                    .list_objects_v2()
                    .bucket(&bucket)
                    .prefix(&prefix)
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|e| failed(&e))?;
                for object in page.contents() {
                    if let Some(name) = object.key().and_then(|k| k.strip_prefix(&prefix)) {
                        names.push(name.to_owned());
                    }
                }
                if names.len() > limit {
                    return Err(S3Error::Failed(format!("more than {limit} objects")));
                }
                match page.next_continuation_token() {
                    Some(next) if page.is_truncated() == Some(true) => {
                        token = Some(next.to_owned());
                    }
                    _ => break,
                }
            }
            names.sort();
            Ok(names)
        })
    }

    /// Probes once per bucket: a second create of the probe key must fail
    /// with 412 (a first that fails so proves it too).
    pub fn probe(&self) -> Result<(), ProbeError> {
        let mut probed = self
            .probed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(verdict) = probed.as_ref() {
            return verdict.clone();
        }
        let body = br#"{"nhi_probe":"a second create of this key must fail with 412"}"#;
        let attempt = || self.put(PROBE, body, Condition::Absent);
        let verdict = match attempt() {
            Err(S3Error::Precondition) => Ok(()),
            Err(S3Error::Failed(detail)) => Err(ProbeError::Failed(detail)),
            Ok(_) => match attempt() {
                Err(S3Error::Precondition) => Ok(()),
                Err(S3Error::Failed(detail)) => Err(ProbeError::Failed(detail)),
                Ok(_) => Err(ProbeError::Unconditional),
            },
        };
        *probed = Some(verdict.clone());
        verdict
    }
}

/// The key the probe creates, under the prefix.
pub const PROBE: &str = "probe.json";

/// Runs `future` to its end on `runtime`, from synchronous code that may itself
/// be running on another runtime's thread.
fn run_on<F>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv()
        .expect("invariant: the S3 runtime runs every task it is given to its end")
}

fn status<E, R: HasStatus>(error: &aws_sdk_s3::error::SdkError<E, R>) -> Option<u16> {
    error.raw_response().map(HasStatus::status_code)
}

trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn failed<E: std::error::Error + 'static, R: std::fmt::Debug>(
    error: &aws_sdk_s3::error::SdkError<E, R>,
) -> S3Error {
    S3Error::Failed(aws_sdk_s3::error::DisplayErrorContext(error).to_string())
}
