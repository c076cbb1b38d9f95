//! `include:`, further files of identities beneath the configuration's
//! directory, so that each team owns its file (CODEOWNERS). The files are
//! hostile input: every entry is a relative path of plain names (a glob only in
//! its last part), each directory and file is opened without following links,
//! and what is read is bounded in count and size. The configuration's digest
//! then covers every file, its name and its place.

use std::fs::File;
use std::io::Read as _;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use serde_saphyr::Spanned;

use super::error::{MAX_FILE_BYTES, Problem, ProblemKind, Source, quote};

/// The most files a configuration may include.
pub(crate) const MAX_FILES: usize = 256;
/// The most bytes the included files may hold together: as much as one file.
pub(crate) const MAX_TOTAL_BYTES: u64 = MAX_FILE_BYTES;
/// The most entries of a directory a glob looks at.
const MAX_LISTED: usize = 10_000;

/// One included file: its path relative to the configuration's directory
/// (`/`-separated), as the digest names it, and its bytes.
pub(crate) struct Included {
    pub relative: String,
    pub bytes: Vec<u8>,
}

const PATH_HELP: &str = "write a path relative to the configuration's directory and beneath it, \
     such as `nhi.d/*.yaml`: plain names separated by `/`, with `*` and `?` only in the last part";

/// An entry's parts: directories (plain names) and the last part, which may be
/// a glob.
fn parts(entry: &str) -> Result<(Vec<&str>, &str), &'static str> {
    if entry.is_empty() {
        return Err("is empty");
    }
    if entry.starts_with('/') {
        return Err("is absolute");
    }
    if entry.contains('\\') {
        return Err("holds a backslash");
    }
    if nhi_provider_sdk::text::first_unsafe(entry).is_some() {
        return Err("holds a control character");
    }
    if entry.contains(['[', ']', '{', '}']) {
        return Err("holds `[`, `]`, `{` or `}`: only `*` and `?` are globs");
    }
    let mut all: Vec<&str> = entry.split('/').collect();
    let last = all.pop().unwrap_or_default();
    for part in all.iter().chain([&last]) {
        match *part {
            "" => return Err("has an empty part"),
            "." => return Err("has a `.` part"),
            ".." => return Err("climbs out with `..`"),
            _ => {}
        }
    }
    if all.iter().any(|d| d.contains(['*', '?'])) {
        return Err("has a glob before its last part");
    }
    Ok((all, last))
}

/// Whether `name` matches `glob` (`*`: any run of characters, `?`: one).
fn matches(glob: &str, name: &str) -> bool {
    let (glob, name): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    let (mut g, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if g < glob.len() && (glob[g] == '?' || glob[g] == name[n]) {
            g += 1;
            n += 1;
        } else if g < glob.len() && glob[g] == '*' {
            star = Some((g, n));
            g += 1;
        } else if let Some((sg, sn)) = star {
            g = sg + 1;
            n = sn + 1;
            star = Some((sg, sn + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|c| *c == '*')
}

/// What went wrong with one entry, before it becomes a problem.
struct Refused {
    kind: ProblemKind,
    message: String,
    help: String,
}

fn refused(kind: ProblemKind, message: String, help: &str) -> Refused {
    Refused {
        kind,
        message,
        help: help.to_owned(),
    }
}

fn link(shown: &str) -> Refused {
    refused(
        ProblemKind::IncludeUnreadable,
        format!("{} is a symbolic link", quote(shown)),
        "included files and their directories are opened without following links: put the \
         file itself beneath the configuration's directory",
    )
}

fn io(shown: &str, err: Errno) -> Refused {
    if matches!(err, Errno::LOOP | Errno::MLINK) {
        return link(shown);
    }
    refused(
        ProblemKind::IncludeUnreadable,
        format!(
            "cannot read {}: {}",
            quote(shown),
            super::error::lowercase_first(&std::io::Error::from(err).to_string())
        ),
        "check the file and its permissions",
    )
}

/// The directory `dirs` beneath `base`, opened a component at a time without
/// following links; `None` when one does not exist.
fn open_dirs(base: &OwnedFd, dirs: &[&str]) -> Result<Option<OwnedFd>, Refused> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut dir = rustix::fs::openat(base, ".", flags, Mode::empty()).map_err(|e| io(".", e))?;
    let mut walked = String::new();
    for name in dirs {
        if !walked.is_empty() {
            walked.push('/');
        }
        walked.push_str(name);
        dir = match rustix::fs::openat(&dir, *name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::NOTDIR) => {
                return Err(match kind_at(&dir, name) {
                    Some(FileType::Symlink) => link(&walked),
                    _ => refused(
                        ProblemKind::IncludeUnreadable,
                        format!("{} is not a directory", quote(&walked)),
                        PATH_HELP,
                    ),
                });
            }
            Err(e) => return Err(io(&walked, e)),
        };
    }
    Ok(Some(dir))
}

fn kind_at(dir: &OwnedFd, name: &str) -> Option<FileType> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .ok()
        .map(|stat| FileType::from_raw_mode(stat.st_mode))
}

/// The names in `dir` that `glob` matches, sorted; a leading `.` is matched
/// only by a glob that starts with one, as in a shell.
fn list(dir: &OwnedFd, glob: &str, shown: &str) -> Result<Vec<String>, Refused> {
    let entries = rustix::fs::Dir::read_from(dir).map_err(|e| io(shown, e))?;
    let mut names = Vec::new();
    for (seen, entry) in entries.enumerate() {
        if seen >= MAX_LISTED {
            return Err(refused(
                ProblemKind::IncludeUnreadable,
                format!("{} holds more than {MAX_LISTED} entries", quote(shown)),
                "keep included files in a directory of their own",
            ));
        }
        let entry = entry.map_err(|e| io(shown, e))?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if name == "." || name == ".." || (name.starts_with('.') && !glob.starts_with('.')) {
            continue;
        }
        if matches(glob, name) {
            names.push(name.to_owned());
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// The identity of a file, to refuse including the configuration itself.
type FileId = (u64, u64);

fn id_of(stat: &rustix::fs::Stat) -> FileId {
    (stat.st_dev, stat.st_ino)
}

/// Reads the files `entries` name beneath `dir`, the configuration's
/// directory: sorted by relative path, each once, never `main` (the
/// configuration's own file, in `dir`). Problems point at the entries in `src`.
pub(crate) fn read(
    src: &Source<'_>,
    dir: &Path,
    main: &std::ffi::OsStr,
    entries: &[Spanned<String>],
) -> Result<Vec<Included>, Vec<Problem>> {
    let problem = |entry: &Spanned<String>, refused: Refused| {
        src.problem(refused.kind, refused.message)
            .label(src.span(&entry.referenced), "included here")
            .with_help(refused.help)
    };
    let base = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        let shown = dir.display().to_string();
        entries
            .first()
            .map(|entry| problem(entry, io(&shown, e)))
            .into_iter()
            .collect::<Vec<_>>()
    })?;
    let main_id = rustix::fs::statat(&base, main, AtFlags::empty())
        .ok()
        .map(|s| id_of(&s));
    // Relative path → the entry that named it first; sorted.
    let mut found: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut problems = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match resolve(&base, &entry.value, main) {
            Ok(names) => {
                for name in names {
                    found.entry(name).or_insert(index);
                }
            }
            Err(refused) => problems.push(problem(entry, refused)),
        }
        if found.len() > MAX_FILES {
            problems.push(problem(
                entry,
                refused(
                    ProblemKind::IncludeUnreadable,
                    format!("the configuration includes more than {MAX_FILES} files"),
                    "merge small files, or keep fewer files per configuration",
                ),
            ));
            return Err(problems);
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut total = 0_u64;
    let mut files = Vec::with_capacity(found.len());
    for (relative, index) in found {
        match read_one(&base, &relative, main_id, &mut total) {
            Ok(bytes) => files.push(Included { relative, bytes }),
            Err(refused) => problems.push(problem(&entries[index], refused)),
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}

/// The relative paths one entry names: a file that must exist, or every
/// regular file a glob matches (at least one). A link matched is refused.
fn resolve(base: &OwnedFd, entry: &str, main: &std::ffi::OsStr) -> Result<Vec<String>, Refused> {
    let (dirs, last) = parts(entry).map_err(|reason| {
        refused(
            ProblemKind::IncludePath,
            format!("the include entry {} {reason}", quote(entry)),
            PATH_HELP,
        )
    })?;
    let prefix: String = dirs.iter().flat_map(|d| [*d, "/"]).collect();
    let missing = || {
        refused(
            ProblemKind::IncludeMissing,
            format!("the include entry {} names no file", quote(entry)),
            "create the file, or remove the entry: an entry that names nothing would drop \
             every identity its files declared",
        )
    };
    let Some(dir) = open_dirs(base, &dirs)? else {
        return Err(missing());
    };
    let names = if last.contains(['*', '?']) {
        list(&dir, last, entry)?
    } else {
        vec![last.to_owned()]
    };
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let relative = format!("{prefix}{name}");
        match kind_at(&dir, &name) {
            None if !last.contains(['*', '?']) => return Err(missing()),
            Some(FileType::RegularFile) => {
                // A glob beside the configuration matches it too: it is not
                // included in itself.
                if dirs.is_empty() && std::ffi::OsStr::new(&name) == main {
                    if last.contains(['*', '?']) {
                        continue;
                    }
                    return Err(itself(&relative));
                }
                out.push(relative);
            }
            Some(FileType::Symlink) => return Err(link(&relative)),
            // A glob skips the directories beside the files it matches.
            Some(FileType::Directory) if last.contains(['*', '?']) => {}
            None => {}
            Some(_) => {
                return Err(refused(
                    ProblemKind::IncludeUnreadable,
                    format!("{} is not a regular file", quote(&relative)),
                    "include regular files only",
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(missing());
    }
    Ok(out)
}

fn itself(relative: &str) -> Refused {
    refused(
        ProblemKind::IncludePath,
        format!("the configuration includes itself as {}", quote(relative)),
        "include other files only; a configuration is read once",
    )
}

/// The bytes of one included file, opened without following links, within
/// the bounds; `total` counts the bytes read so far.
fn read_one(
    base: &OwnedFd,
    relative: &str,
    main: Option<FileId>,
    total: &mut u64,
) -> Result<Vec<u8>, Refused> {
    let mut parts: Vec<&str> = relative.split('/').collect();
    let name = parts.pop().unwrap_or_default();
    let dir = open_dirs(base, &parts)?.ok_or_else(|| io(relative, Errno::NOENT))?;
    // Non-blocking: a FIFO swapped in after the listing must not hang the read.
    let fd = rustix::fs::openat(
        &dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(relative, e))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| io(relative, e))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(refused(
            ProblemKind::IncludeUnreadable,
            format!("{} is not a regular file", quote(relative)),
            "include regular files only",
        ));
    }
    if Some(id_of(&stat)) == main {
        return Err(itself(relative));
    }
    let left = MAX_TOTAL_BYTES.saturating_sub(*total);
    let too_large = || {
        refused(
            ProblemKind::IncludeUnreadable,
            format!(
                "the included files are too large: {} takes them past {} MiB",
                quote(relative),
                MAX_TOTAL_BYTES / 1024 / 1024
            ),
            "nhi reads up to this much configuration in all; check that these are the right files",
        )
    };
    let size = u64::try_from(stat.st_size).unwrap_or(u64::MAX);
    if size > left {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // The size can change between the stat and the read: one byte past the bound.
    File::from(fd)
        .take(left + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io(relative, Errno::from_io_error(&e).unwrap_or(Errno::IO)))?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > left {
        return Err(too_large());
    }
    *total += read;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_plain_relative_names_with_a_glob_last() {
        let cases = [
            ("nhi.d/*.yaml", Ok((vec!["nhi.d"], "*.yaml"))),
            ("team.yaml", Ok((vec![], "team.yaml"))),
            ("a/b/c?.yml", Ok((vec!["a", "b"], "c?.yml"))),
            ("", Err("is empty")),
            ("/etc/passwd", Err("is absolute")),
            ("../other/nhi.yaml", Err("climbs out with `..`")),
            ("nhi.d/../../x.yaml", Err("climbs out with `..`")),
            ("./x.yaml", Err("has a `.` part")),
            ("nhi.d//x.yaml", Err("has an empty part")),
            ("nhi.d/", Err("has an empty part")),
            ("*/x.yaml", Err("has a glob before its last part")),
            ("nhi.d\\x.yaml", Err("holds a backslash")),
            ("x\u{202e}.yaml", Err("holds a control character")),
            (
                "[ab].yaml",
                Err("holds `[`, `]`, `{` or `}`: only `*` and `?` are globs"),
            ),
        ];
        for (entry, want) in cases {
            assert_eq!(parts(entry), want, "{entry}");
        }
    }

    #[test]
    fn globs_match_as_in_a_shell() {
        let cases = [
            ("*.yaml", "team.yaml", true),
            ("*.yaml", "team.yml", false),
            ("*", "x", true),
            ("t?am.yaml", "team.yaml", true),
            ("t?am.yaml", "tam.yaml", false),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b", "ab_a", false),
            ("team.yaml", "team.yaml", true),
            ("**", "", true),
        ];
        for (glob, name, want) in cases {
            assert_eq!(matches(glob, name), want, "{glob} {name}");
        }
    }
}
