//! The estate file on disk: its JSON encoding (version check, integrity checks with
//! line and column), loading, and atomic, durable replacement.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, BufWriter, Read as _, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nhi_provider_sdk::{
    Binding, Identity, ObservedIdentity, ObservedKey, ObservedState, Policy, ProviderError, Tags,
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
    // Decoded as it is read where the layout allows; the text is read whole
    // only for the decoder that reports problems.
    #[cfg(unix)]
    if let Some(identities) = parse_lines_at(&OpenFile(&file, meta.len()), PARALLEL_BYTES) {
        return Ok((Some(Stamp::of(&meta)), identities));
    }
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
    parse_lines_at(bytes, PARALLEL_BYTES)
}

/// Bytes read by position: an open file, or bytes in memory.
trait ReadAt: Sync {
    fn size(&self) -> u64;
    /// Reads at most `buf.len()` bytes at `offset`; 0 at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let rest = usize::try_from(offset)
            .ok()
            .and_then(|at| self.get(at..))
            .unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

/// An open estate file and the length it had when opened. `store` replaces the
/// file by renaming a new one over it, so an open file never changes under nhi.
#[cfg(unix)]
struct OpenFile<'a>(&'a File, u64);

#[cfg(unix)]
impl ReadAt for OpenFile<'_> {
    fn size(&self) -> u64 {
        self.1
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        use std::os::unix::fs::FileExt as _;
        let left = usize::try_from(self.1.saturating_sub(offset)).unwrap_or(usize::MAX);
        let n = buf.len().min(left);
        self.0.read_at(&mut buf[..n], offset)
    }
}

/// The bytes `from..to` of a [`ReadAt`], as a reader.
struct Range<'a, A: ?Sized> {
    at: &'a A,
    from: u64,
    to: u64,
}

impl<A: ReadAt + ?Sized> io::Read for Range<'_, A> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.to.saturating_sub(self.from)).unwrap_or(usize::MAX);
        let n = buf.len().min(left);
        let read = self.at.read_at(&mut buf[..n], self.from)?;
        self.from += read as u64;
        Ok(read)
    }
}

/// Exactly the bytes `from..to`, or `None`.
fn bytes_at<A: ReadAt + ?Sized>(at: &A, from: u64, to: u64) -> Option<Vec<u8>> {
    let len = to.checked_sub(from)?;
    let mut out = Vec::new();
    io::Read::read_to_end(&mut Range { at, from, to }, &mut out).ok()?;
    (out.len() as u64 == len).then_some(out)
}

/// Where the first `,\n` at or after `from` (and before `to`) starts.
fn separator_at<A: ReadAt + ?Sized>(at: &A, from: u64, to: u64) -> Option<u64> {
    const WINDOW: u64 = 1 << 16;
    let mut start = from;
    while start < to {
        // Windows overlap by a byte, so a separator across two is found.
        let window = bytes_at(at, start, (start + WINDOW).min(to))?;
        if let Some(i) = window.windows(2).position(|w| w == b",\n") {
            return Some(start + i as u64);
        }
        start += WINDOW - 1;
    }
    None
}

/// [`parse_lines`] for bytes in memory or an open file, on several threads when
/// the identities take `parallel_bytes`. Each thread reads its own pieces by
/// position, so a file's text is never held whole.
fn parse_lines_at<A: ReadAt + ?Sized>(
    at: &A,
    parallel_bytes: usize,
) -> Option<Vec<ObservedIdentity>> {
    const TAIL: &[u8] = b"\n]}\n";
    let head = format!("{{\"nhi_local_estate\":{FORMAT_VERSION},\"identities\":[\n");
    let size = at.size();
    let body_from = head.len() as u64;
    let body_to = size.checked_sub(TAIL.len() as u64)?;
    if body_to < body_from
        || bytes_at(at, 0, body_from)? != head.as_bytes()
        || bytes_at(at, body_to, size)? != TAIL
    {
        return None;
    }
    let body_len = body_to - body_from;
    let threads = nhi_provider_sdk::parallel::threads();
    // Several pieces a thread: threads that finish early take more.
    let parts = if body_len < parallel_bytes as u64 {
        1
    } else {
        threads * 4
    };
    // Parts end before a `,\n` between two identities.
    let mut bounds = vec![(body_from, body_from)];
    for k in 1..parts as u64 {
        let from = (body_from + body_len * k / parts as u64).max(bounds[bounds.len() - 1].1);
        if let Some(sep) = separator_at(at, from, body_to) {
            bounds.push((sep, sep + 2));
        }
    }
    bounds.push((body_to, body_to));
    let ranges: Vec<(u64, u64)> = bounds.windows(2).map(|w| (w[0].1, w[1].0)).collect();
    // Lines take 256 bytes and more. The first part's vector takes every part's
    // identities, so it is sized for all: its unused end is never touched.
    let capacity = |bytes: u64| usize::try_from(bytes / 256).unwrap_or(0);
    let decode = |(from, to): (u64, u64)| -> Option<Vec<ObservedIdentity>> {
        let mut reader = io::BufReader::with_capacity(1 << 16, Range { at, from, to });
        let mut out = Vec::with_capacity(capacity(if from == body_from {
            body_len
        } else {
            to - from
        }));
        let mut line = Vec::new();
        loop {
            line.clear();
            io::BufRead::read_until(&mut reader, b'\n', &mut line).ok()?;
            // Every line of a part but its last ends with `,\n`.
            let last = line.last() != Some(&b'\n');
            let text = if last {
                &line[..]
            } else {
                line[..line.len() - 1].strip_suffix(b",")?
            };
            // An object, as the whole-file decoder requires (serde would also
            // accept a struct written as an array).
            if text.first() != Some(&b'{') {
                return None;
            }
            let identity =
                ObservedIdentity::from(serde_json::from_slice::<RawIdentity>(text).ok()?);
            check_members(&identity).ok()?;
            out.push(identity);
            if last {
                return Some(out);
            }
        }
    };
    let decoded = nhi_provider_sdk::parallel::map(ranges.len(), threads, |i| decode(ranges[i]));
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
    bindings: Vec<RawBinding>,
}

/// The mirror of [`Binding`] for reading, whose policy is kept as the estate
/// wrote it when that is already its canonical text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    role: String,
    resource: String,
    #[serde(default, deserialize_with = "policy")]
    policy: Option<Policy>,
}

/// A policy from its JSON text: taken as it is when canonical (as `write_estate`
/// writes it), parsed and rewritten when not.
fn policy<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Policy>, D::Error> {
    let Some(raw) = Option::<Box<serde_json::value::RawValue>>::deserialize(deserializer)? else {
        return Ok(None);
    };
    match Policy::from_canonical(raw.into()) {
        Ok(policy) => Ok(Some(policy)),
        Err(text) => serde_json::from_str::<serde_json::Value>(&text)
            .map(|document| Some(Policy::new(&document)))
            .map_err(de::Error::custom),
    }
}

impl From<RawBinding> for Binding {
    fn from(raw: RawBinding) -> Self {
        Self {
            role: raw.role,
            resource: raw.resource,
            policy: raw.policy,
        }
    }
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
            mut keys,
            bindings,
        } = raw;
        // Decoded lists start with room for four; an estate holds many identities
        // with one or two of each.
        keys.shrink_to_fit();
        let mut bindings: Vec<Binding> = bindings.into_iter().map(Binding::from).collect();
        bindings.shrink_to_fit();
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
