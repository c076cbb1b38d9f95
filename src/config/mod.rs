//! Desired-state YAML → validated [`Config`], with source spans for every error.
//!
//! [`load`] reads a file, [`parse`] reads text: YAML becomes the raw serde types
//! (`raw`), which `validate` checks against each other and against the provider
//! types before building the model. Every problem is a [`Problem`] with a stable
//! code and the offending text underlined; well-formed files report all at once.

mod anchors;
mod error;
mod excerpt;
mod fields;
mod include;
mod included;
mod lenient;
mod model;
mod plain_yaml;
mod raw;
mod schema;
mod source;
mod starter;
mod validate;
mod words;
mod yaml;

use std::path::Path;

use nhi_provider_sdk::Digest;

use crate::registry::Registry;

pub use anchors::Anchors;
pub use error::{ConfigError, Problem, ProblemKind};
/// For other YAML files nhi reads (the trust policy), reported to the same standard.
pub(crate) use error::{Source, did_you_mean, lowercase_first, quote};
pub use included::digest_of;
pub use model::{Config, DesiredIdentity, DesiredKey, Expired, ProviderBlock};
pub use schema::json_schema;
pub use starter::{Starter, schema_url};
pub(crate) use yaml::explain;

/// Read and validate the configuration file at `path`.
///
/// Errors name the file as `path` is written; the digest covers its exact bytes.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, Registry::builtin(), &mut |_, _| {})
}

/// [`load`], calling `early` with the configuration's directory and its provider
/// blocks as soon as they are known to be valid, before the identities are read,
/// when the file is large and the plain block-YAML reader reads it. The blocks are those the
/// returned configuration will have, unless loading fails.
pub fn load_with(
    path: &Path,
    registry: &Registry,
    early: &mut dyn FnMut(&Path, &[ProviderBlock]),
) -> Result<Config, ConfigError> {
    let bytes = source::read(path)?;
    let text = source::decode(&path.display().to_string(), &bytes)?;
    parse_with(path, text, registry, early)
}

/// Validate configuration `text` that was read from `path`.
///
/// `path` names the file in errors and in [`Config::path`]; its parent directory
/// (or `.`) is [`Config::dir`]. The digest covers `text`'s bytes, which are the
/// file's bytes when `text` was read unchanged.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    parse_with(path, text, Registry::builtin(), &mut |_, _| {})
}

fn parse_with(
    path: &Path,
    text: &str,
    registry: &Registry,
    early: &mut dyn FnMut(&Path, &[ProviderBlock]),
) -> Result<Config, ConfigError> {
    let name = path.display().to_string();
    let dir = source::dir_of(path);
    let main = path.file_name().unwrap_or_default();
    let src = error::Source::new(&name, text).in_dir(&dir);
    let mut early = |blocks: &[ProviderBlock]| early(&dir, blocks);
    let mut read = || match plain_yaml::parse(&src, registry, text, &mut early) {
        Some(valid) => Ok((valid, Vec::new())),
        None => full_parser(&src, registry, text, main),
    };
    // A large file is hashed while it is read.
    let (valid, digest) = if text.len() < 1 << 20 {
        (read(), Digest::of(text.as_bytes()))
    } else {
        std::thread::scope(|threads| {
            let digest = threads.spawn(|| Digest::of(text.as_bytes()));
            let valid = read();
            let digest = digest.join().expect("invariant: hashing does not panic");
            (valid, digest)
        })
    };
    let (valid, included) = valid?;
    let digest = if included.is_empty() {
        digest
    } else {
        included::digest(&main.to_string_lossy(), digest, &included)
    };
    Ok(Config {
        path: path.to_path_buf(),
        dir,
        digest,
        providers: valid.providers,
        identities: valid.identities,
        policy: valid.policy,
        rego: valid.rego,
    })
}

/// The most problems one run reports; the rest are counted.
const MAX_PROBLEMS: usize = 100;

/// The general path: serde-saphyr with spans, then validation, with the
/// files `include:` names (`main`: the file's name in its directory). Every
/// error comes from here.
fn full_parser(
    src: &error::Source<'_>,
    registry: &Registry,
    text: &str,
    main: &std::ffi::OsStr,
) -> Result<(validate::Valid, included::Digests), ConfigError> {
    let name = src.name().to_owned();
    let errors = |mut problems: Vec<Problem>, stopped: bool| {
        let more = problems.len().saturating_sub(MAX_PROBLEMS);
        if more > 0 || stopped {
            problems.truncate(MAX_PROBLEMS);
            let message = match (more, stopped) {
                (more, false) => format!("and {more} more"),
                (0, true) => format!("and more: reading stops after {MAX_PROBLEMS} errors"),
                (more, true) => format!(
                    "and {more} more, and more after them: reading stops after {MAX_PROBLEMS} errors"
                ),
            };
            let kind = problems.last().map_or(ProblemKind::Syntax, Problem::kind);
            let last = src
                .problem(kind, message)
                .with_help("fix the errors above and run `nhi validate` again");
            problems.push(last);
        }
        if problems.len() == 1 {
            ConfigError::Problem(Box::new(problems.remove(0)))
        } else {
            ConfigError::Invalid {
                path: name.clone(),
                src: src.named(),
                problems,
            }
        }
    };
    let parsed = yaml::parse_all(src, text);
    let stopped = parsed.stopped;
    let Some(mut raw) = parsed.raw else {
        return Err(errors(parsed.problems, stopped));
    };
    if !parsed.problems.is_empty() {
        if !raw.include.is_empty() {
            return Err(errors(parsed.problems, stopped));
        }
        // Entries that lost a field are checked without it; what says it is
        // missing, or that a failed provider block is undefined, is no news.
        let mut problems = parsed.problems;
        if let Err(more) = validate::validate(src, registry, &mut raw) {
            problems.extend(more.into_iter().filter(|p| {
                let no_news = parsed.partial.contains(&p.offset())
                    || (parsed.provider_failed && p.kind() == ProblemKind::UndefinedProvider);
                !no_news
            }));
            problems.sort_by_key(Problem::position);
        }
        return Err(errors(problems, stopped));
    }
    if !raw.include.is_empty() {
        return included::validate(src, registry, &mut raw, main).map_err(|p| errors(p, false));
    }
    validate::validate(src, registry, &mut raw)
        .map(|valid| (valid, Vec::new()))
        .map_err(|p| errors(p, false))
}

#[cfg(test)]
mod tests;
