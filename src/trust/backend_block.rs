//! The trust policy's `backend: {s3: …}` block: where a team keeps its shared
//! scope locks and receipt log (`crate::backend`), checked where it is written.

use nhi_provider_sdk::Age;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::TrustError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackend {
    pub(super) s3: RawS3,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawS3 {
    bucket: Spanned<String>,
    #[serde(default)]
    prefix: Option<Spanned<String>>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    endpoint_url: Option<String>,
    #[serde(default)]
    lease: Option<Spanned<String>>,
}

/// `backend: {s3: …}`, checked where it is written.
pub(super) fn s3_backend(
    raw: RawS3,
    source: &crate::config::Source<'_>,
    invalid: &dyn Fn(miette::SourceSpan, &str, String, String) -> TrustError,
) -> Result<crate::backend::LogLocation, TrustError> {
    crate::backend::check_bucket(&raw.bucket.value).map_err(|e| {
        invalid(
            source.span(&raw.bucket.referenced),
            "`backend.s3.bucket` is not a bucket name",
            e,
            "name the bucket as S3 does, e.g. `nhi-state`".into(),
        )
    })?;
    let prefix = match &raw.prefix {
        None => String::new(),
        Some(prefix) => crate::backend::normalise_prefix(&prefix.value).map_err(|e| {
            invalid(
                source.span(&prefix.referenced),
                "`backend.s3.prefix` is not a key prefix",
                e,
                "e.g. `prefix: teams/platform`".into(),
            )
        })?,
    };
    let lease = match &raw.lease {
        None => crate::backend::DEFAULT_LEASE,
        Some(text) => {
            let bad = |label: String| {
                invalid(
                    source.span(&text.referenced),
                    "`backend.s3.lease` is not a lease length",
                    label,
                    "write a length of 1s to 1h, e.g. `lease: 60s` (the default) or `lease: 5m`"
                        .into(),
                )
            };
            let age = text.value.parse::<Age>().map_err(|e| bad(e.to_string()))?;
            let seconds = age.seconds();
            if !(1..=3600).contains(&seconds) {
                return Err(bad("shorter than 1s or longer than 1h".into()));
            }
            std::time::Duration::from_secs(seconds.unsigned_abs())
        }
    };
    Ok(crate::backend::LogLocation::S3(
        crate::backend::S3Settings {
            bucket: raw.bucket.value,
            prefix,
            region: raw.region.filter(|r| !r.is_empty()),
            endpoint_url: raw.endpoint_url.filter(|u| !u.is_empty()),
            lease,
        },
    ))
}
