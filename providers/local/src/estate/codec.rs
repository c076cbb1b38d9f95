//! The estate file's bytes: encoding (version first, one identity per line) and
//! decoding, by the fast line-by-line path when the layout allows and else by a
//! whole-file decoder whose errors give line and column.

use std::collections::HashSet;
use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use nhi_provider_sdk::{ObservedIdentity, ProviderError};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::format::{FORMAT_VERSION, IdentityRef, RawIdentity, check_members};
use super::lines::parse_lines;

/// The encoding: version first, then one identity per line.
pub(crate) fn encode<'a, W: Write>(
    out: &mut W,
    identities: impl IntoIterator<Item = &'a ObservedIdentity>,
) -> io::Result<()> {
    write!(
        out,
        "{{\"nhi_local_estate\":{FORMAT_VERSION},\"identities\":["
    )?;
    let mut first = true;
    for identity in identities {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        serde_json::to_writer(&mut *out, &IdentityRef::from(identity))?;
    }
    out.write_all(if first { b"]}\n" } else { b"\n]}\n" })
}

/// Decodes estate bytes read from `path` (named in errors).
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Vec<ObservedIdentity>, ProviderError> {
    match parse_lines(bytes) {
        Some(identities) => Ok(identities),
        None => parse_whole(bytes, path),
    }
}

/// [`parse`] for any layout, with errors that give line and column.
pub(super) fn parse_whole(
    bytes: &[u8],
    path: &Path,
) -> Result<Vec<ObservedIdentity>, ProviderError> {
    match serde_json::from_slice::<Parsed>(bytes) {
        Ok(Parsed::Estate(identities)) => Ok(identities),
        Ok(Parsed::UnknownVersion(version)) => Err(ProviderError::Corrupt(format!(
            "estate file `{}` has format version `{version}`, but this nhi reads only version \
             `{FORMAT_VERSION}`; use the nhi release that wrote it",
            path.display()
        ))),
        Err(err) => Err(ProviderError::Corrupt(format!(
            "estate file `{}`: {err}",
            path.display()
        ))),
    }
}

/// The decoded file: identities, or a version this crate does not read.
enum Parsed {
    Estate(Vec<ObservedIdentity>),
    UnknownVersion(u64),
}

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EstateVisitor)
    }
}

struct EstateVisitor;

impl<'de> Visitor<'de> for EstateVisitor {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a local estate: an object with `nhi_local_estate` and `identities`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        const FIELDS: &[&str] = &["nhi_local_estate", "identities"];
        let mut version: Option<u64> = None;
        let mut identities: Option<Vec<ObservedIdentity>> = None;
        while let Some(field) = map.next_key::<String>()? {
            let unknown_version = version.is_some_and(|v| v != FORMAT_VERSION);
            match field.as_str() {
                "nhi_local_estate" if version.is_some() => {
                    return Err(de::Error::duplicate_field("nhi_local_estate"));
                }
                "nhi_local_estate" => version = Some(map.next_value()?),
                "identities" if identities.is_some() => {
                    return Err(de::Error::duplicate_field("identities"));
                }
                "identities" if unknown_version => {
                    map.next_value::<IgnoredAny>()?;
                    identities = Some(Vec::new());
                }
                "identities" => identities = Some(map.next_value::<Identities>()?.0),
                // Another version may have other fields.
                _ if unknown_version => {
                    map.next_value::<IgnoredAny>()?;
                }
                other => return Err(de::Error::unknown_field(other, FIELDS)),
            }
        }
        match version {
            None => Err(de::Error::missing_field("nhi_local_estate")),
            Some(FORMAT_VERSION) => Ok(Parsed::Estate(identities.unwrap_or_default())),
            Some(other) => Ok(Parsed::UnknownVersion(other)),
        }
    }
}

/// The `identities` array, checked while it is decoded so errors carry the line
/// and column of the offending identity, and sorted by name.
struct Identities(Vec<ObservedIdentity>);

impl<'de> Deserialize<'de> for Identities {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(IdentitiesVisitor)
    }
}

struct IdentitiesVisitor;

impl<'de> Visitor<'de> for IdentitiesVisitor {
    type Value = Identities;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of identities")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Identities, A::Error> {
        let mut out: Vec<ObservedIdentity> =
            Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        // Names seen so far, built only once the array turns out to be unsorted:
        // files this crate writes are sorted and need nothing but a comparison.
        let mut seen: Option<HashSet<String>> = None;
        while let Some((identity, in_order)) = seq.next_element_seed(Element {
            earlier: &out,
            seen: seen.as_ref(),
        })? {
            let name = &identity.identity.name;
            match &mut seen {
                Some(seen) => {
                    seen.insert(name.clone());
                }
                None if in_order => {}
                None => {
                    seen = Some(
                        out.iter()
                            .map(|i| i.identity.name.clone())
                            .chain([name.clone()])
                            .collect(),
                    );
                }
            }
            out.push(identity);
        }
        if seen.is_some() {
            out.sort_unstable_by(|a, b| a.identity.name.cmp(&b.identity.name));
        }
        Ok(Identities(out))
    }
}

/// Decodes one identity and checks it against those before it, from inside the
/// identity's object so that an error points at the identity's own closing brace.
struct Element<'a> {
    /// Sorted by name while `seen` is `None`.
    earlier: &'a [ObservedIdentity],
    seen: Option<&'a HashSet<String>>,
}

impl<'de> de::DeserializeSeed<'de> for Element<'_> {
    /// The identity, and whether it sorts after every earlier one.
    type Value = (ObservedIdentity, bool);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Element<'_> {
    type Value = (ObservedIdentity, bool);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an identity")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let identity = ObservedIdentity::from(RawIdentity::deserialize(
            de::value::MapAccessDeserializer::new(map),
        )?);
        check_members(&identity).map_err(de::Error::custom)?;
        let name = identity.identity.name.as_str();
        let in_order = self
            .earlier
            .last()
            .is_none_or(|last| last.identity.name.as_str() < name);
        let duplicate = match self.seen {
            Some(seen) => seen.contains(name),
            None if in_order => false,
            None => self
                .earlier
                .binary_search_by(|i| i.identity.name.as_str().cmp(name))
                .is_ok(),
        };
        if duplicate {
            return Err(de::Error::custom(format!(
                "identity `{name}` appears more than once"
            )));
        }
        Ok((identity, in_order))
    }
}
