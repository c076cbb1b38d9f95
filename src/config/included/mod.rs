//! A configuration of several files: each file its `include:` names is parsed
//! with a source of its own, so that a problem in it shows that file and line;
//! what it may hold is checked; the identities of every file are validated
//! together; and the configuration's digest covers every file.

use std::path::Path;

use miette::SourceSpan;
use nhi_provider_sdk::Digest;
use serde_saphyr::Spanned;

use crate::registry::Registry;

use super::error::{ConfigError, Problem, ProblemKind, Source};
use super::raw::RawConfig;
use super::validate::Valid;

/// Each included file's relative path and the digest of its bytes, in order.
pub(super) type Digests = Vec<(String, Digest)>;

/// Validates the configuration in `src` (already parsed into `raw`, whose
/// `include:` is not empty) with the files it includes; `main` is the file's
/// name in its directory.
pub(super) fn validate(
    src: &Source<'_>,
    registry: &Registry,
    raw: &mut RawConfig,
    main: &std::ffi::OsStr,
) -> Result<(Valid, Digests), Vec<Problem>> {
    let dir = src.dir().to_path_buf();
    let files = super::include::read(src, &dir, main, &raw.include)?;
    let digests: Digests = files
        .iter()
        .map(|f| (f.relative.clone(), Digest::of(&f.bytes)))
        .collect();
    let names: Vec<String> = files.iter().map(|f| shown(&dir, &f.relative)).collect();
    let mut problems = Vec::new();
    let mut sources = Vec::with_capacity(files.len());
    for ((file, name), position) in files.iter().zip(&names).zip(1_u32..) {
        match super::source::decode(name, &file.bytes) {
            Ok(text) => sources.push(Source::new(name, text).in_dir(&dir).file(position)),
            Err(err) => problems.extend(err.problems().iter().map(|p| p.clone().in_file(position))),
        }
    }
    let mut included = Vec::with_capacity(sources.len());
    for source in &sources {
        // A team's file with nothing in it yet declares no identity.
        if super::yaml::is_blank(source.text()) {
            continue;
        }
        match super::yaml::parse(source, source.text()) {
            Ok(raw) => {
                problems.extend(content_problems(source, &raw));
                included.push((source, raw));
            }
            Err(found) => problems.extend(found),
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(Problem::position);
        return Err(problems);
    }
    let valid = super::validate::validate_files(src, registry, raw, &mut included)?;
    Ok((valid, digests))
}

/// An included file's name as reports show it: beside the configuration's.
fn shown(dir: &Path, relative: &str) -> String {
    if dir == Path::new(".") {
        relative.to_owned()
    } else {
        dir.join(relative).display().to_string()
    }
}

/// The problems of an included file's content: it holds identities (and a
/// `version:`) only. Provider blocks, the policy and further includes stay in
/// the main file, with whoever owns it: a team's file cannot widen a scope,
/// accept its own findings, or pull in files nobody reviews as its owner.
pub(crate) fn content_problems(src: &Source<'_>, raw: &RawConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut refuse = |what: &str, span: SourceSpan| {
        problems.push(
            src.problem(
                ProblemKind::IncludeContent,
                format!("an included file cannot hold {what}"),
            )
            .label(span, "not allowed in an included file")
            .with_help(
                "included files hold `identities:` only; provider blocks, `policy:` and \
                 `include:` belong in the main configuration file",
            ),
        );
    };
    if let Some(first) = raw.include.first() {
        refuse(
            "`include:` (includes do not nest)",
            src.span(&first.referenced),
        );
    }
    if let Some(first) = raw.providers.first() {
        refuse("provider blocks", src.span(&first.referenced));
    }
    if let Some(policy) = &raw.policy {
        refuse("a `policy:` section", src.span(&policy.referenced));
    }
    problems
}

/// The digest of a configuration with included files: its own file's name and
/// digest, then each included file's relative path and digest, in order, as
/// netstrings under a tag of their own. A configuration without includes keeps
/// the digest of its file's bytes.
pub(crate) fn digest(main: &str, main_digest: Digest, files: &[(String, Digest)]) -> Digest {
    let mut framed = Vec::new();
    let mut netstring = |bytes: &[u8]| {
        framed.extend_from_slice(bytes.len().to_string().as_bytes());
        framed.push(b':');
        framed.extend_from_slice(bytes);
        framed.push(b',');
    };
    netstring(b"nhi-config-files/1");
    netstring(main.as_bytes());
    netstring(main_digest.to_string().as_bytes());
    for (relative, digest) in files {
        netstring(relative.as_bytes());
        netstring(digest.to_string().as_bytes());
    }
    Digest::of(&framed)
}

/// Only `include:` of a configuration, to digest it without validating it.
#[derive(serde::Deserialize)]
struct IncludeList {
    #[serde(default)]
    include: Vec<Spanned<String>>,
}

/// The digest [`super::Config::digest`] has for the configuration at `path`
/// as it is on disk now, reading only what the digest covers: apply compares
/// it with the plan's. Text that does not parse has the digest of its bytes.
pub fn digest_of(path: &Path) -> Result<Digest, ConfigError> {
    let bytes = super::source::read(path)?;
    let own = Digest::of(&bytes);
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(own);
    };
    // Most configurations never say `include`: no parse for them.
    if memchr::memmem::find(text.as_bytes(), b"include").is_none() {
        return Ok(own);
    }
    let Ok(list) = serde_saphyr::from_str_with_options::<IncludeList>(text, super::yaml::options())
    else {
        return Ok(own);
    };
    if list.include.is_empty() {
        return Ok(own);
    }
    let name = path.display().to_string();
    let dir = super::source::dir_of(path);
    let src = Source::new(&name, text).in_dir(&dir);
    let main = path.file_name().unwrap_or_default();
    let files = super::include::read(&src, &dir, main, &list.include).map_err(|mut problems| {
        if problems.len() == 1 {
            ConfigError::Problem(Box::new(problems.remove(0)))
        } else {
            ConfigError::Invalid {
                path: name.clone(),
                src: src.named(),
                problems,
            }
        }
    })?;
    let digests: Vec<(String, Digest)> = files
        .iter()
        .map(|f| (f.relative.clone(), Digest::of(&f.bytes)))
        .collect();
    Ok(digest(&main.to_string_lossy(), own, &digests))
}

#[cfg(test)]
mod tests;
