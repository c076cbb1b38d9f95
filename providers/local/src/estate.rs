//! The estate file on disk: its JSON encoding (version check, integrity checks with
//! line and column), loading, and atomic, durable replacement.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, BufWriter, Read as _, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nhi_provider_sdk::{
    Binding, Identity, ObservedIdentity, ObservedKey, ObservedState, ProviderError, Tags,
};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The estate format version this crate reads and writes (`nhi_local_estate`).
pub const FORMAT_VERSION: u64 = 1;

/// Reads the estate file at `path`: identities sorted by name. A missing file is an
/// empty estate.
pub fn read_estate(path: &Path) -> Result<ObservedState, ProviderError> {
    load(path).map(|(_, identities)| ObservedState { identities })
}

/// Replaces the estate file at `path` atomically with `state`, in any order.
pub fn write_estate(path: &Path, state: &ObservedState) -> Result<(), ProviderError> {
    let mut sorted: Vec<&ObservedIdentity> = state.identities.iter().collect();
    sorted.sort_unstable_by(|a, b| a.identity.name.cmp(&b.identity.name));
    for pair in sorted.windows(2) {
        if pair[0].identity.name == pair[1].identity.name {
            return Err(ProviderError::Other(format!(
                "identity `{}` appears more than once",
                pair[0].identity.name
            )));
        }
    }
    for identity in &sorted {
        check_members(identity).map_err(ProviderError::Other)?;
    }
    store(path, sorted).map(|_| ())
}

/// What identifies one version of the estate file, to notice writes by others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    dev: u64,
    #[cfg(unix)]
    ino: u64,
}

impl Stamp {
    fn of(meta: &Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt as _;
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            dev: meta.dev(),
            #[cfg(unix)]
            ino: meta.ino(),
        }
    }
}

/// The stamp of the file at `path` now; `None` when there is no file.
pub(crate) fn current_stamp(path: &Path) -> Result<Option<Stamp>, ProviderError> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(Stamp::of(&meta))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(ProviderError::io(
            format!("cannot read estate file `{}`", path.display()),
            err,
        )),
    }
}

/// Reads and checks the estate at `path`, with the stamp of what was read.
pub(crate) fn load(path: &Path) -> Result<(Option<Stamp>, Vec<ObservedIdentity>), ProviderError> {
    let context = || format!("cannot read estate file `{}`", path.display());
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok((None, Vec::new())),
        Err(err) => return Err(ProviderError::io(context(), err)),
    };
    let meta = file
        .metadata()
        .map_err(|err| ProviderError::io(context(), err))?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1));
    file.read_to_end(&mut bytes)
        .map_err(|err| ProviderError::io(context(), err))?;
    let identities = parse(&bytes, path)?;
    Ok((Some(Stamp::of(&meta)), identities))
}

/// Decodes estate bytes read from `path` (named in errors).
pub(crate) fn parse(bytes: &[u8], path: &Path) -> Result<Vec<ObservedIdentity>, ProviderError> {
    match parse_lines(bytes) {
        Some(identities) => Ok(identities),
        None => parse_whole(bytes, path),
    }
}

/// [`parse`] for any layout, with errors that give line and column.
fn parse_whole(bytes: &[u8], path: &Path) -> Result<Vec<ObservedIdentity>, ProviderError> {
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

/// Below this size an estate is decoded on the calling thread.
const PARALLEL_BYTES: usize = 1 << 20;

/// The fast path for files laid out exactly as [`encode`] writes them: the
/// identities, one per line, are decoded on as many threads as there are cores.
/// `None` for anything else, and for any identity that fails to decode or check,
/// or names out of order: [`parse`] then decodes the file whole, and its errors
/// say where the problem is.
fn parse_lines(bytes: &[u8]) -> Option<Vec<ObservedIdentity>> {
    parse_lines_in(bytes, PARALLEL_BYTES)
}

/// [`parse_lines`], on several threads when the identities take `parallel_bytes`.
fn parse_lines_in(bytes: &[u8], parallel_bytes: usize) -> Option<Vec<ObservedIdentity>> {
    let head = format!("{{\"nhi_local_estate\":{FORMAT_VERSION},\"identities\":[\n");
    let body = bytes
        .strip_prefix(head.as_bytes())?
        .strip_suffix(b"\n]}\n")?;
    let parts = if body.len() < parallel_bytes {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    };
    // Parts end before a `,\n` between two identities.
    let mut bounds = vec![(0, 0)];
    for k in 1..parts {
        let from = (body.len() * k / parts).max(bounds[bounds.len() - 1].1);
        if let Some(at) = body[from..].windows(2).position(|w| w == b",\n") {
            bounds.push((from + at, from + at + 2));
        }
    }
    bounds.push((body.len(), body.len()));
    let chunks: Vec<&[u8]> = bounds.windows(2).map(|w| &body[w[0].1..w[1].0]).collect();
    let decode = |chunk: &[u8]| -> Option<Vec<ObservedIdentity>> {
        let mut lines = chunk.split(|&b| b == b'\n').peekable();
        let mut out = Vec::with_capacity(chunk.len() / 256);
        while let Some(line) = lines.next() {
            let line = if lines.peek().is_some() {
                line.strip_suffix(b",")?
            } else {
                line
            };
            // An object, as the whole-file decoder requires (serde would also
            // accept a struct written as an array).
            if line.first() != Some(&b'{') {
                return None;
            }
            let identity =
                ObservedIdentity::from(serde_json::from_slice::<RawIdentity>(line).ok()?);
            check_members(&identity).ok()?;
            out.push(identity);
        }
        Some(out)
    };
    let decoded: Vec<Option<Vec<ObservedIdentity>>> = if chunks.len() == 1 {
        vec![decode(chunks[0])]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks[1..]
                .iter()
                .map(|chunk| scope.spawn(|| decode(chunk)))
                .collect();
            let mut out = vec![decode(chunks[0])];
            out.extend(handles.into_iter().map(|h| h.join().ok().flatten()));
            out
        })
    };
    let mut identities = Vec::new();
    for part in decoded {
        let part = part?;
        if identities.is_empty() {
            identities = part;
        } else {
            identities.extend(part);
        }
    }
    identities
        .windows(2)
        .all(|w| w[0].identity.name < w[1].identity.name)
        .then_some(identities)
}

/// Writes `identities` (sorted, checked) to a temporary file beside `path`, syncs
/// it, renames it over `path` and syncs the directory. Returns the new stamp.
pub(crate) fn store<'a>(
    path: &Path,
    identities: impl IntoIterator<Item = &'a ObservedIdentity>,
) -> Result<Stamp, ProviderError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let temp = temp_path(path, dir)?;
    let context = || format!("cannot write estate file `{}`", path.display());
    let written = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        if let Ok(meta) = fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        let mut out = BufWriter::with_capacity(1 << 16, file);
        encode(&mut out, identities)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        // Rename keeps the inode and mtime, so this is the stamp of the estate.
        let stamp = Stamp::of(&file.metadata()?);
        fs::rename(&temp, path)?;
        Ok(stamp)
    })();
    let stamp = match written {
        Ok(stamp) => stamp,
        Err(err) => {
            // Best effort: the temp file may not exist, and the write error matters more.
            let _ = fs::remove_file(&temp);
            return Err(ProviderError::io(context(), err));
        }
    };
    sync_dir(dir).map_err(|err| ProviderError::io(context(), err))?;
    Ok(stamp)
}

fn temp_path(path: &Path, dir: &Path) -> Result<PathBuf, ProviderError> {
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|err| {
        ProviderError::Other(format!(
            "the operating system's random source failed: {err}"
        ))
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        hex::encode(nonce)
    )))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

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

/// `ObservedIdentity` as it serialises, without `flatten`'s buffering. The
/// exhaustive destructuring below breaks the build when the SDK adds a field.
#[derive(Serialize)]
struct IdentityRef<'a> {
    name: &'a str,
    kind: &'a str,
    owner: &'a str,
    description: &'a str,
    tags: &'a Tags,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: &'a BTreeMap<String, serde_json::Value>,
    keys: &'a [ObservedKey],
    bindings: &'a [Binding],
}

impl<'a> From<&'a ObservedIdentity> for IdentityRef<'a> {
    fn from(observed: &'a ObservedIdentity) -> Self {
        let ObservedIdentity {
            identity:
                Identity {
                    name,
                    kind,
                    owner,
                    description,
                    tags,
                    attributes,
                },
            keys,
            bindings,
        } = observed;
        Self {
            name,
            kind,
            owner,
            description,
            tags,
            attributes,
            keys,
            bindings,
        }
    }
}

/// The mirror of `IdentityRef` for reading, as strict as the SDK's own decoding.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    name: String,
    kind: String,
    owner: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Tags,
    #[serde(default)]
    attributes: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    keys: Vec<ObservedKey>,
    #[serde(default)]
    bindings: Vec<Binding>,
}

impl From<RawIdentity> for ObservedIdentity {
    fn from(raw: RawIdentity) -> Self {
        let RawIdentity {
            name,
            kind,
            owner,
            description,
            tags,
            attributes,
            keys,
            bindings,
        } = raw;
        Self {
            identity: Identity {
                name,
                kind,
                owner,
                description,
                tags,
                attributes,
            },
            keys,
            bindings,
        }
    }
}

/// Key ids and `(role, resource)` pairs are unique within an identity.
pub(crate) fn check_members(observed: &ObservedIdentity) -> Result<(), String> {
    let name = &observed.identity.name;
    if let Some(id) = first_duplicate(&observed.keys, |k| k.id.as_str()) {
        return Err(format!("identity `{name}` has key `{id}` more than once"));
    }
    if let Some((role, resource)) = first_duplicate(&observed.bindings, |b| {
        (b.role.as_str(), b.resource.as_str())
    }) {
        return Err(format!(
            "identity `{name}` has binding `{role}` on `{resource}` more than once"
        ));
    }
    Ok(())
}

fn first_duplicate<'a, T, K: Eq + std::hash::Hash + Copy>(
    items: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Option<K> {
    // Identities hold a handful of keys and bindings; only hostile files hold many.
    if items.len() <= 16 {
        return items
            .iter()
            .enumerate()
            .find(|(i, item)| items[..*i].iter().any(|earlier| key(earlier) == key(item)))
            .map(|(_, item)| key(item));
    }
    let mut seen = HashSet::with_capacity(items.len());
    items.iter().map(key).find(|k| !seen.insert(*k))
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

#[cfg(test)]
mod tests;
