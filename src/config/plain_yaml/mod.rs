//! A reader for the plain, block-style YAML that large configurations are written
//! in, there for speed. It accepts a strict subset of YAML and declines everything
//! else; the caller then reads the file with serde-saphyr, the full parser, so
//! every error a user sees comes from that path. Each identity is validated as
//! soon as it is read, so the raw configuration is never held whole.
//!
//! [`lines`] scans significant lines, [`node`] builds the tree of a block or
//! flow value from them, and [`to_raw`] maps that tree to the raw types.
//!
//! The subset: spaces for indentation (no tabs, no CR, no BOM, no control
//! characters), full-line `#` comments, block mappings with plain keys, block
//! sequences, single-line plain, single-quoted (without `''`) and double-quoted
//! (without escapes) scalars, and single-line flow collections of scalars. Not in
//! it (declined): anchors, aliases, tags, block and multi-line scalars, trailing
//! comments, document markers, nulls, numbers and booleans where a JSON value is
//! read, duplicate keys, and any value the raw types would not accept. A file in
//! the subset means the same to this reader and to serde-saphyr; a differential
//! test holds them to it.

mod lines;
mod node;
mod to_raw;

use crate::registry::Registry;
use serde_saphyr::{Location, Spanned};

use self::lines::{Lines, is_item};
use self::node::Node;
use super::error::Source;
use super::model::ProviderBlock;
use super::raw::{RawIdentity, RawProvider};
use super::validate::{Incremental, Valid};

/// Not in the subset, or not valid: read the file with the full parser.
#[derive(Debug)]
pub(crate) struct Decline;

/// What was read, when the text so far is in the subset.
type InSubset<T> = Result<T, Decline>;

/// The validated configuration in `text`, or `None` when the text is outside the
/// subset or has any problem.
///
/// `early` is called with the provider blocks, once they are valid, before a
/// large `identities:` sequence is read.
pub(crate) fn parse(
    source: &Source<'_>,
    registry: &Registry,
    text: &str,
    early: &mut dyn FnMut(&[ProviderBlock]),
) -> Option<Valid> {
    read(source, registry, text, PARALLEL_BYTES, early).ok()
}

/// [`parse`], reading the identities on several threads when they take at least
/// `parallel_bytes`.
fn read(
    source: &Source<'_>,
    registry: &Registry,
    text: &str,
    parallel_bytes: usize,
    early: &mut dyn FnMut(&[ProviderBlock]),
) -> InSubset<Valid> {
    lines::check_characters(text)?;
    let mut lines = Lines::new(text);
    let first = lines.peek().ok_or(Decline)?;
    if first.indent != 0 {
        return Err(Decline);
    }
    let mut v = Incremental::deferring_duplicates(source, registry);
    let mut blocks = Vec::new();
    // Blocks whose type starts something first (a plugin) are judged once the
    // identities are being read, so that the two overlap.
    let mut preparing = Vec::new();
    let mut unjudged = false;
    let (mut version, mut providers, mut identities) = (false, false, false);
    while let Some((key, inline)) = lines.key(0)? {
        match key {
            "version" if !version && !identities => {
                version = true;
                let Some(Node::Plain(text)) = inline else {
                    return Err(Decline);
                };
                v.version(&spanned(to_raw::whole_number(text)?));
            }
            "providers" if !providers && !identities => {
                providers = true;
                let node = match inline {
                    Some(node) => node,
                    None => lines.nested(0, 1)?,
                };
                for item in to_raw::seq(node)? {
                    let block = spanned(to_raw::raw_provider(item)?);
                    preparing.extend(prepare(registry, source, &block.value));
                    blocks.push(block);
                }
                unjudged = true;
                if preparing.is_empty() {
                    judge_blocks(&mut v, &blocks, &mut unjudged);
                }
            }
            "identities" if !identities => {
                identities = true;
                let parallel = lines.rest.len() >= parallel_bytes;
                if inline.is_some() || !parallel || lines.peeked.is_some() {
                    judge_blocks(&mut v, &blocks, &mut unjudged);
                }
                if let Some(node) = inline {
                    to_raw::seq(node)?
                        .into_iter()
                        .try_for_each(|node| validate_identity(&mut v, node))?;
                    continue;
                }
                if lines.peeked.is_some() || v.has_problems() {
                    return Err(Decline);
                }
                let reading = Reading {
                    source,
                    registry,
                    blocks: &blocks,
                    preparing: &preparing,
                    parallel_bytes,
                };
                let parts = if unjudged {
                    // The plugins start while the identities are read ahead.
                    std::thread::scope(|threads| {
                        let parts = threads.spawn(|| reading.identities(lines.rest));
                        judge_blocks(&mut v, &blocks, &mut unjudged);
                        if !v.has_problems() {
                            early(v.providers());
                        }
                        parts
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    })?
                } else {
                    if parallel {
                        early(v.providers());
                    }
                    reading.identities(lines.rest)?
                };
                if v.has_problems() {
                    return Err(Decline);
                }
                for part in parts {
                    v.merge(part).map_err(|()| Decline)?;
                }
                lines.rest = "";
            }
            _ => return Err(Decline),
        }
        if v.has_problems() {
            return Err(Decline);
        }
    }
    judge_blocks(&mut v, &blocks, &mut unjudged);
    if lines.peek().is_some() || v.has_problems() || v.has_duplicates() {
        return Err(Decline);
    }
    v.finish().map_err(|_| Decline)
}

/// Judges the provider blocks, once.
fn judge_blocks(v: &mut Incremental<'_>, blocks: &[Spanned<RawProvider>], unjudged: &mut bool) {
    if std::mem::take(unjudged) {
        for block in blocks {
            v.provider(block);
        }
    }
}

/// What the block's type starts in the background for it (a plugin's start).
fn prepare(
    registry: &Registry,
    source: &Source<'_>,
    block: &RawProvider,
) -> Option<nhi_provider_sdk::Preparing> {
    let provider_type = registry.find(&block.type_name.as_ref()?.value)?;
    let settings = serde_json::Value::Object(block.settings.as_ref()?.value.clone());
    provider_type.prepare(&settings, source.dir())
}

/// Validates one identity; declines on its first problem.
fn validate_identity(v: &mut Incremental<'_>, node: Node<'_>) -> InSubset<()> {
    v.identity(&mut spanned(to_raw::raw_identity(node)?));
    if v.has_problems() {
        return Err(Decline);
    }
    Ok(())
}

/// Below this size the identities are read on the calling thread.
const PARALLEL_BYTES: usize = 1 << 20;

/// What reading the identities takes.
struct Reading<'s, 'b> {
    source: &'s Source<'s>,
    registry: &'s Registry,
    blocks: &'b [Spanned<RawProvider>],
    /// Work the blocks' types started, which judging their identities waits for.
    preparing: &'b [nhi_provider_sdk::Preparing],
    parallel_bytes: usize,
}

impl<'s> Reading<'s, '_> {
    /// Reads and validates the items of the `identities:` sequence in `text`
    /// (what follows its key line, up to the end of the file), in as many parts
    /// as there are cores. Parts start at lines with the items' dash and
    /// indentation, which in a file of this subset are always new items; each
    /// part must end its text.
    fn identities(&self, text: &str) -> InSubset<Vec<Incremental<'s>>> {
        let indent = match Lines::new(text).peek() {
            Some(line) if is_item(line.text) => line.indent,
            _ => return Err(Decline),
        };
        let threads = nhi_provider_sdk::parallel::threads();
        // Several pieces a thread: threads that finish early take more.
        let parts = if text.len() < self.parallel_bytes {
            1
        } else {
            threads * 4
        };
        let marker = format!("\n{}- ", " ".repeat(indent));
        let mut bounds = vec![0];
        for k in 1..parts {
            let from = (text.len() * k / parts).max(bounds[bounds.len() - 1]);
            if let Some(at) = text.get(from..).and_then(|t| t.find(&marker)) {
                bounds.push(from + at + 1);
            }
        }
        bounds.push(text.len());
        bounds.dedup();
        let chunks: Vec<&str> = bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect();
        nhi_provider_sdk::parallel::map(chunks.len(), threads, |i| {
            let reserve = if i == 0 { text.len() } else { chunks[i].len() };
            self.part(chunks[i], indent, reserve)
        })
        .into_iter()
        .collect()
    }

    /// One part's identities. While a block's type is still preparing (a plugin
    /// starting), they are parsed ahead and judged once it is done.
    fn part(&self, part: &str, indent: usize, reserve: usize) -> InSubset<Incremental<'s>> {
        let mut v = Incremental::deferring_duplicates(self.source, self.registry);
        // Items take about 500 bytes and more: one allocation of the model, whose
        // unused end is never touched. The first part's takes every part's items.
        v.reserve_identities(reserve / 256 + 1);
        let mut ahead = Vec::new();
        let mut unjudged = true;
        let mut lines = Lines::new(part);
        lines.items(indent, 1, &mut |node| {
            if unjudged {
                if !self
                    .preparing
                    .iter()
                    .all(nhi_provider_sdk::Preparing::is_done)
                {
                    ahead.push(spanned(to_raw::raw_identity(node)?));
                    return Ok(());
                }
                self.judge_ahead(&mut v, &mut ahead, &mut unjudged)?;
            }
            validate_identity(&mut v, node)
        })?;
        if lines.peek().is_some() {
            return Err(Decline);
        }
        self.judge_ahead(&mut v, &mut ahead, &mut unjudged)?;
        v.judge_pending();
        Ok(v)
    }

    /// Judges the blocks, once, then the identities read ahead.
    fn judge_ahead(
        &self,
        v: &mut Incremental<'s>,
        ahead: &mut Vec<Spanned<RawIdentity>>,
        unjudged: &mut bool,
    ) -> InSubset<()> {
        judge_blocks(v, self.blocks, unjudged);
        for mut identity in ahead.drain(..) {
            v.identity(&mut identity);
            if v.has_problems() {
                return Err(Decline);
            }
        }
        Ok(())
    }
}

/// Spans are only needed for problems, and a problem makes this reader decline.
fn spanned<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

#[cfg(test)]
mod tests;
