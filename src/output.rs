//! Output files: written whole or not at all, and checked before any work.
//!
//! Every file aerec writes (model files, split parts, recommendation and
//! prediction CSVs, histories, plots, tune's TOML, compare's tables) goes
//! through [`write_atomic`]: the bytes go to a temporary file in the target's
//! directory (`.NAME.tmp-PID`), which is synced and renamed over the target,
//! and the directory is synced so the rename itself is durable. A process
//! killed mid-write leaves the previous complete file in place; the
//! temporary it leaves behind is removed by the next write of the same file
//! ([`clean_stale_temporaries`]), once no live process owns it.
//!
//! [`check_output`] runs before a command reads or trains anything: the
//! directory must exist and be writable, the path must not be a directory,
//! and it must not be one of the command's input files (a model written
//! over the ratings it was trained on would destroy them).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written: the content goes to `.NAME.tmp-PID` next to the
/// target, and [`AtomicFile::commit`] syncs it and renames it over the
/// target. Dropped without a commit (an error, a panic), the temporary is
/// removed and the target is untouched.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    dir: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `path`, first removing temporaries that writers of the
    /// same file killed earlier left behind.
    pub fn create(path: &Path) -> Result<Self> {
        let (dir, name) = dir_and_name(path).map_err(|e| e.with_path(path))?;
        clean_stale_temporaries(&dir, &name);
        let tmp = temporary_name(&dir, &name, std::process::id());
        let file = File::create(&tmp).map_err(|e| Error::from(e).with_path(path))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            dir,
            tmp,
            writer: Some(BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// Where the content goes until the commit.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer
            .as_mut()
            .expect("the writer is only taken by commit, which consumes self")
    }

    /// The target path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the temporary over the target, then syncs
    /// the directory so the rename itself is durable.
    pub fn commit(mut self) -> Result<()> {
        let writer = self
            .writer
            .take()
            .expect("commit runs once, and only it takes the writer");
        let done = (|| -> Result<()> {
            let file = writer
                .into_inner()
                .map_err(|e| Error::from(e.into_error()))?;
            file.sync_all()?;
            std::fs::rename(&self.tmp, &self.path)?;
            Ok(())
        })();
        if let Err(e) = done {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(e.with_path(&self.path));
        }
        // Syncing a directory is not supported everywhere (Windows); the
        // rename has happened either way.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            drop(writer);
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `path` atomically (see [`AtomicFile`]): `body` writes the content
/// to a buffered temporary file that then replaces `path` in one rename. On
/// any error the temporary is removed and `path` is left as it was.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("out.txt");
/// aerec::output::write_atomic(&path, |w| Ok(std::io::Write::write_all(w, b"hello")?)).unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello");
/// ```
pub fn write_atomic(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    body(file.writer()).map_err(|e| e.with_path(path))?;
    file.commit()
}

/// [`write_atomic`] of bytes already in memory.
pub fn write_atomic_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| Ok(w.write_all(bytes)?))
}

/// The directory `path` lives in (`.` for a bare name) and its file name.
fn dir_and_name(path: &Path) -> Result<(PathBuf, String)> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::other("the output path names no file"))?
        .to_string_lossy()
        .into_owned();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}

/// `dir/.NAME.tmp-PID`: hidden, next to the target (so the rename stays on
/// one file system), and owned by a process id that can be checked later.
fn temporary_name(dir: &Path, name: &str, pid: u32) -> PathBuf {
    dir.join(format!(".{name}.tmp-{pid}"))
}

/// Removes `dir/.NAME.tmp-PID` files left by processes that no longer run
/// (a write killed by SIGKILL or a power cut). Temporaries of live processes
/// (another writer of the same file right now) are kept. Returns how many
/// were removed; failures to list or remove are ignored (the write that
/// follows reports any real problem with the directory).
pub fn clean_stale_temporaries(dir: &Path, name: &str) -> usize {
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let Ok(pid) = rest.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id()
            && !process_is_alive(pid)
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Whether a process with this id exists (signal 0 probes without sending).
#[cfg(unix)]
fn process_is_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only reports whether the
    // process exists (EPERM: it exists but belongs to another user).
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Elsewhere a temporary is never judged stale.
#[cfg(not(unix))]
fn process_is_alive(_pid: u32) -> bool {
    true
}

/// Checks, before any work, that `path` (given with `flag`) can be written:
/// its directory exists and accepts a new file, it is not a directory, and
/// it is none of `inputs` (the files the same command reads).
pub fn check_output(path: &Path, flag: &str, inputs: &[&Path]) -> Result<()> {
    let fail = |why: String| Err(Error::other(format!("{flag} {}: {why}", path.display())));
    if path.is_dir() {
        return fail("is a directory; name a file".into());
    }
    let (dir, name) = match dir_and_name(path) {
        Ok(d) => d,
        Err(_) => return fail("names no file".into()),
    };
    if !dir.is_dir() {
        return fail(format!(
            "the directory {} does not exist; create it first",
            dir.display()
        ));
    }
    for input in inputs {
        if same_file(path, input) {
            return fail(format!(
                "is an input file of this command ({}); writing it would destroy the input, \
                 choose another path",
                input.display()
            ));
        }
    }
    // Probe with the temporary the real write will use: it proves the
    // directory takes new files, where a permissions check could be wrong
    // (ACLs, read-only mounts).
    let probe = temporary_name(&dir, &name, std::process::id());
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(f) => {
            drop(f);
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => fail(format!("cannot create a file in {}: {e}", dir.display())),
    }
}

/// Whether two paths name the same existing file (hard links and symbolic
/// links included).
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        write_atomic_bytes(&path, b"old").unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"half")?;
            Err(Error::other("stopped"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("stopped"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn stale_temporaries_of_dead_processes_go_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        // A child that has exited and been waited for: its id is free.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = temporary_name(dir.path(), "m.aerec", dead);
        let live = temporary_name(dir.path(), "m.aerec", std::process::id());
        let other = dir.path().join(".x.aerec.tmp-1");
        for p in [&stale, &live, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        write_atomic_bytes(&dir.path().join("m.aerec"), b"model").unwrap();
        assert!(!stale.exists(), "the dead process's temporary is removed");
        assert!(other.exists(), "another file's temporary is not touched");
        assert_eq!(std::fs::read(dir.path().join("m.aerec")).unwrap(), b"model");
    }

    #[test]
    fn outputs_are_checked_before_work() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.tsv");
        std::fs::write(&input, b"1\t2\t3\n").unwrap();
        let e = check_output(&input, "--out", &[&input]).unwrap_err();
        assert!(e.to_string().contains("input file"), "{e}");
        let e = check_output(&dir.path().join("no/such/m.aerec"), "--out", &[]).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = check_output(dir.path(), "--out", &[]).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
        check_output(&dir.path().join("m.aerec"), "--out", &[&input]).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
