//! The files a bulk import touches, treated as precious.
//!
//! - **The input** is opened once. A regular file is read again from that one handle, and only
//!   as far as the check pass read it, so that lines appended during a run are never sent. A
//!   stream (standard input as `-`, a pipe, a FIFO, a character device) is copied first into
//!   an owner-only temporary file, removed at the end, because the command reads its input
//!   several times. A directory is refused.
//! - **The outputs** (`--journal`, `--failures`, `--report`) are compared with the input and
//!   with each other by identity (device and inode when they exist, the resolved path when
//!   they do not yet), so that no two of them, and none of them and the input, are one file
//!   under two names (a hard link, a symbolic link, `dir/../x`). Each must be a new file or an
//!   existing regular file: anything else (a directory, a device such as `/dev/null`, a FIFO)
//!   is refused, never written to, and its mode never touched.
//! - **Files the command creates are owner-only from the start** (mode 0600 at creation; no
//!   mode is ever changed afterwards). `--failures` and `--report` are written whole into a
//!   new owner-only file beside the output, created before the first request (so that an
//!   output that cannot be written is found before anything is sent), and renamed over the
//!   output at the end: an existing output is replaced, never written into, and a crash leaves
//!   it as it was.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read, Seek, SeekFrom, Take, Write},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

/// The most a stream given as the input is copied before it is refused: 4 GiB, about 50
/// million records.
pub const MAX_SPOOLED_BYTES: u64 = 4 << 30;

/// Why a file cannot be used. Each says which file, by its flag, and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file could not be opened, read, created or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// The flag (or "the input").
        what: String,
        /// The path given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The input is a directory.
    #[error("the input {} is a directory, not a file of records", path.display())]
    Directory {
        /// The path given.
        path: PathBuf,
    },
    /// An output is something other than a new file or a regular file.
    #[error(
        "{what} {} is not a regular file ({kind}): refused, and left untouched; name a new \
         file or an existing regular file",
        path.display()
    )]
    NotRegular {
        /// The flag.
        what: &'static str,
        /// The path given.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// Two of the files are the same file.
    #[error("{first} and {second} name the same file ({}): refused", path.display())]
    Same {
        /// The first flag (or "the input").
        first: &'static str,
        /// The second flag.
        second: &'static str,
        /// The later path.
        path: PathBuf,
    },
    /// A stream given as the input is larger than [`MAX_SPOOLED_BYTES`].
    #[error(
        "the input stream is larger than {} GiB; give a regular file instead",
        MAX_SPOOLED_BYTES >> 30
    )]
    TooLarge,
}

/// Where a path leads: an existing file's identity, or, for a path that does not exist yet,
/// the path it resolves to once created.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    Existing(FileId),
    New(PathBuf),
}

/// A file's identity: device and inode where the platform has them, else its canonical path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileId(Identity);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Identity {
    #[cfg(unix)]
    Inode { dev: u64, ino: u64 },
    #[allow(dead_code)]
    Path(PathBuf),
}

impl FileId {
    fn of(path: &Path, metadata: &fs::Metadata) -> io::Result<Self> {
        #[cfg(unix)]
        {
            let _ = path;
            use std::os::unix::fs::MetadataExt;
            Ok(FileId(Identity::Inode {
                dev: metadata.dev(),
                ino: metadata.ino(),
            }))
        }
        #[cfg(not(unix))]
        {
            let _ = metadata;
            Ok(FileId(Identity::Path(fs::canonicalize(path)?)))
        }
    }
}

/// What a file is, in words, for messages.
fn kind(file_type: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

fn io_error<'a>(what: &str, path: &'a Path) -> impl FnOnce(io::Error) -> FileError + 'a {
    let what = what.to_owned();
    move |source| FileError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Where an output path leads, refusing what is not a new file or a regular file.
fn place_of_output(what: &'static str, path: &Path) -> Result<Place, FileError> {
    match fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => Ok(Place::Existing(
            FileId::of(path, &metadata).map_err(io_error(what, path))?,
        )),
        Ok(metadata) => Err(FileError::NotRegular {
            what,
            path: path.to_owned(),
            kind: kind(metadata.file_type()),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A symbolic link to nothing would create a file wherever it points.
            if let Ok(link) = fs::symlink_metadata(path) {
                return Err(FileError::NotRegular {
                    what,
                    path: path.to_owned(),
                    kind: if link.file_type().is_symlink() {
                        "a symbolic link to nothing"
                    } else {
                        kind(link.file_type())
                    },
                });
            }
            let name = path.file_name().ok_or_else(|| FileError::NotRegular {
                what,
                path: path.to_owned(),
                kind: "not a file name",
            })?;
            let parent = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            let parent = fs::canonicalize(parent).map_err(|source| FileError::Io {
                what: what.to_owned(),
                path: path.to_owned(),
                source: io::Error::new(
                    source.kind(),
                    format!("its directory cannot be used: {source}"),
                ),
            })?;
            Ok(Place::New(parent.join(name)))
        }
        Err(e) => Err(io_error(what, path)(e)),
    }
}

/// Checks that none of `outputs` (flag, path) is the input or another output, and that each is
/// a new file or an existing regular file. `input` is the input's identity, when it is a file.
pub fn check_outputs(
    input: Option<&FileId>,
    outputs: &[(&'static str, &Path)],
) -> Result<(), FileError> {
    let mut seen: Vec<(&'static str, Place)> = Vec::new();
    if let Some(id) = input {
        seen.push(("the input", Place::Existing(id.clone())));
    }
    for &(what, path) in outputs {
        let place = place_of_output(what, path)?;
        if let Some((first, _)) = seen.iter().find(|(_, p)| *p == place) {
            return Err(FileError::Same {
                first,
                second: what,
                path: path.to_owned(),
            });
        }
        seen.push((what, place));
    }
    Ok(())
}

/// Opens the journal at `path` for reading and appending (creating it owner-only), refusing
/// anything but a regular file, and takes its exclusive lock for as long as the file is open:
/// `None` when another run holds it.
pub fn open_locked(path: &Path) -> io::Result<Option<File>> {
    let mut options = fs::OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(
            "not a regular file: refused, and left untouched",
        ));
    }
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// The input, opened once: a regular file, or a stream copied into an owner-only temporary
/// file.
#[derive(Debug)]
pub struct Input {
    file: File,
    /// The path given, for messages and the format's extension.
    path: PathBuf,
    /// The input's identity, when it is a regular file (not a copied stream).
    id: Option<FileId>,
    /// The copy of a stream, removed when the input is dropped.
    spool: Option<Spool>,
    /// How many bytes the check pass read; later passes read no further.
    checked: Option<u64>,
}

impl Input {
    /// Opens `path` (`-` is standard input).
    pub fn open(path: &Path) -> Result<Self, FileError> {
        let what = "the input";
        let (file, metadata) = if path == Path::new("-") {
            let file = stdin_file().map_err(io_error(what, path))?;
            let metadata = file.metadata().map_err(io_error(what, path))?;
            (file, metadata)
        } else {
            let metadata = fs::metadata(path).map_err(io_error(what, path))?;
            if metadata.is_dir() {
                return Err(FileError::Directory {
                    path: path.to_owned(),
                });
            }
            let file = File::open(path).map_err(io_error(what, path))?;
            let metadata = file.metadata().map_err(io_error(what, path))?;
            (file, metadata)
        };
        if metadata.is_dir() {
            return Err(FileError::Directory {
                path: path.to_owned(),
            });
        }
        if metadata.is_file() {
            let id = FileId::of(path, &metadata).ok();
            return Ok(Input {
                file,
                path: path.to_owned(),
                id,
                spool: None,
                checked: None,
            });
        }
        // A stream: copied once, so that it can be read again.
        let (spool, copy) = Spool::create().map_err(io_error("a temporary copy of", path))?;
        let mut writer = io::BufWriter::new(copy);
        let copied = io::copy(&mut file.take(MAX_SPOOLED_BYTES + 1), &mut writer)
            .map_err(io_error(what, path))?;
        if copied > MAX_SPOOLED_BYTES {
            return Err(FileError::TooLarge);
        }
        let copy = writer
            .into_inner()
            .map_err(|e| io_error(what, path)(e.into_error()))?;
        let id = None;
        Ok(Input {
            file: copy,
            path: path.to_owned(),
            id,
            spool: Some(spool),
            checked: None,
        })
    }

    /// The path given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The input's identity, when it is a regular file.
    pub fn id(&self) -> Option<&FileId> {
        self.id.as_ref()
    }

    /// Whether the input was a stream, copied.
    pub fn is_stream(&self) -> bool {
        self.spool.is_some()
    }

    /// From now on, reads stop after `bytes`: what the check pass read.
    pub fn limit_to(&mut self, bytes: u64) {
        self.checked = Some(bytes);
    }

    /// A reader of the input from its start (only as far as it was checked, once it was).
    /// Readers share one handle: use one at a time.
    pub fn reader(&self) -> io::Result<Take<File>> {
        let mut file = self.file.try_clone()?;
        file.seek(SeekFrom::Start(0))?;
        Ok(file.take(self.checked.unwrap_or(u64::MAX)))
    }

    /// The input's current size (a regular file may grow during a run).
    pub fn len_now(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

/// Standard input as a file handle of its own.
fn stdin_file() -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let fd = io::stdin().as_fd().try_clone_to_owned()?;
        Ok(File::from(fd))
    }
    #[cfg(not(unix))]
    {
        Err(io::Error::other(
            "standard input is not supported on this platform",
        ))
    }
}

/// Creates `path` new, owner-only from the start (mode 0600 where the platform has modes).
pub fn create_new_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name for a temporary file: recognisable, and unique to this process.
fn temporary_name(stem: &str) -> String {
    format!(
        ".{stem}.authing-otp-{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// An owner-only temporary file, removed when dropped.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
}

impl Spool {
    /// A new one in the system's temporary directory, and its handle.
    pub fn create() -> io::Result<(Spool, File)> {
        let path = std::env::temp_dir().join(temporary_name("spool"));
        let file = create_new_private(&path)?;
        Ok((Spool { path }, file))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// An output written whole into a new owner-only file beside it, then renamed over it.
#[derive(Debug)]
pub struct PendingOutput {
    path: PathBuf,
    temporary: PathBuf,
    file: Option<io::BufWriter<File>>,
}

impl PendingOutput {
    /// Creates the new file beside `path` now: an output that cannot be written is found
    /// before anything is sent.
    pub fn create(what: &'static str, path: &Path) -> Result<Self, FileError> {
        let stem = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let temporary = dir.join(temporary_name(&stem));
        let file = create_new_private(&temporary).map_err(io_error(what, path))?;
        Ok(PendingOutput {
            path: path.to_owned(),
            temporary,
            file: Some(io::BufWriter::new(file)),
        })
    }

    /// Where to write.
    pub fn writer(&mut self) -> &mut io::BufWriter<File> {
        self.file.as_mut().expect("written before it is committed")
    }

    /// Makes what was written the output: flushed, synced, renamed over the path.
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file.take().expect("committed once");
        let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.temporary, &self.path)?;
        Ok(())
    }
}

impl Drop for PendingOutput {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

impl Write for PendingOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer().flush()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("authing-otp-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn outputs_are_compared_by_identity() {
        let dir = temp_dir("identity");
        let input = dir.join("in.jsonl");
        fs::write(&input, "x\n").unwrap();
        let link = dir.join("hard-link");
        fs::hard_link(&input, &link).unwrap();
        std::os::unix::fs::symlink(&input, dir.join("soft-link")).unwrap();
        fs::create_dir(dir.join("sub")).unwrap();
        let opened = Input::open(&input).unwrap();
        let id = opened.id();
        let check = |outputs: &[(&'static str, &Path)]| check_outputs(id, outputs);
        for alias in [
            link.clone(),
            dir.join("soft-link"),
            dir.join("sub/../in.jsonl"),
        ] {
            let err = check(&[("--failures", &alias)]).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("the input and --failures name the same file"),
                "{err}"
            );
        }
        // Two new paths that are one file.
        let new = dir.join("j");
        let err = check(&[("--journal", &new), ("--failures", &dir.join("sub/../j"))]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--journal and --failures name the same file"),
            "{err}"
        );
        assert!(check(&[("--journal", &new), ("--report", &dir.join("r"))]).is_ok());
        // Not a regular file.
        for (path, kind) in [
            (PathBuf::from("/dev/null"), "a character device"),
            (dir.join("sub"), "a directory"),
        ] {
            let err = check(&[("--report", &path)]).unwrap_err();
            assert!(err.to_string().contains(kind), "{err}");
        }
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
        let err = check(&[("--report", &dir.join("dangling"))]).unwrap_err();
        assert!(
            err.to_string().contains("a symbolic link to nothing"),
            "{err}"
        );
        let err = check(&[("--report", &dir.join("missing/r"))]).unwrap_err();
        assert!(
            err.to_string().contains("its directory cannot be used"),
            "{err}"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_pending_output_is_owner_only_replaces_whole_and_leaves_nothing_when_dropped() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("pending");
        let out = dir.join("report.jsonl");
        fs::write(&out, "old\n").unwrap();
        fs::set_permissions(&out, fs::Permissions::from_mode(0o644)).unwrap();
        let mut pending = PendingOutput::create("--report", &out).unwrap();
        writeln!(pending, "new").unwrap();
        assert_eq!(fs::read_to_string(&out).unwrap(), "old\n", "not yet");
        pending.commit().unwrap();
        assert_eq!(fs::read_to_string(&out).unwrap(), "new\n");
        let mode = fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Dropped without commit: the output is as it was, and no temporary file remains.
        let pending = PendingOutput::create("--report", &out).unwrap();
        drop(pending);
        assert_eq!(fs::read_to_string(&out).unwrap(), "new\n");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn readers_stop_where_the_check_did() {
        let dir = temp_dir("limit");
        let path = dir.join("in");
        fs::write(&path, "abc\n").unwrap();
        let mut input = Input::open(&path).unwrap();
        input.limit_to(4);
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"appended\n")
            .unwrap();
        let mut text = String::new();
        input.reader().unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "abc\n");
        assert_eq!(input.len_now().unwrap(), 13);
        let err = Input::open(&dir).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("is a directory, not a file of records"),
            "{err}"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
