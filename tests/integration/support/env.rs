//! `TestEnv`: one temporary tree per test (config, photos, ledger, backups) and the real
//! agent binary spawned against it with a hard timeout.
//!
//! Every run is hermetic: `SHORTPIXEL_API_KEY` and `SHORTPIXEL_AGENT_CONFIG` are removed
//! unless a test passes them, and HOME/XDG dirs point inside the temp tree, so nothing the
//! agent defaults to can touch the developer's real config or data.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::config::Config;
use super::{blake3, images, Status};

const BIN: &str = env!("CARGO_BIN_EXE_shortpixel-agent");

/// How long one command may run before the test kills it and fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

pub struct TestEnv {
    dir: TempDir,
    /// `SHORTPIXEL_AGENT_LOG` for every spawned command.
    pub log: String,
}

impl TestEnv {
    /// An empty tree with a `photos/` folder and no config yet.
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("spa-it-")
            .tempdir()
            .expect("create temp dir");
        std::fs::create_dir(dir.path().join("photos")).expect("create photos/");
        std::fs::create_dir(dir.path().join("home")).expect("create home/");
        TestEnv {
            dir,
            log: "debug".to_owned(),
        }
    }

    /// The temp tree's root, canonical (so it compares equal to paths the agent reports).
    pub fn root(&self) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).expect("canonical temp dir")
    }

    /// The default watched folder, `<root>/photos`.
    pub fn photos(&self) -> PathBuf {
        self.root().join("photos")
    }

    /// A path inside the temp tree.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("config.toml")
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.path("ledger.db")
    }

    pub fn backup_dir(&self) -> PathBuf {
        self.path("backups")
    }

    /// Where the contract puts the backup of content `hash`: `backups/<2 hex>/<hex>`.
    pub fn backup_of(&self, hash: &str) -> PathBuf {
        self.backup_dir().join(&hash[..2]).join(hash)
    }

    /// Writes `config.toml` from a builder.
    pub fn configure(&self, config: &Config) {
        self.write_config(&config.render());
    }

    /// Writes `config.toml` verbatim (for the tests of invalid configs).
    pub fn write_config(&self, toml: &str) {
        std::fs::write(self.config_path(), toml).expect("write config.toml");
    }

    /// Writes a photo-like JPEG at `photos/<rel>` and returns its path.
    pub fn add_jpeg(&self, rel: &str, w: u32, h: u32, seed: u64) -> PathBuf {
        self.add_file(rel, &images::photo_jpeg(w, h, seed))
    }

    /// Writes a graphic-like PNG at `photos/<rel>` and returns its path.
    pub fn add_png(&self, rel: &str, w: u32, h: u32, seed: u64) -> PathBuf {
        self.add_file(rel, &images::graphic_png(w, h, seed))
    }

    /// Writes raw bytes at `photos/<rel>`, creating parent folders.
    pub fn add_file(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.photos().join(rel);
        write_file(&path, bytes);
        path
    }

    /// `shortpixel-agent --config <config.toml> ARGS...`, waited for with `RUN_TIMEOUT`.
    pub fn run(&self, args: &[&str]) -> Outcome {
        self.spawn_with_env(args, &[]).wait()
    }

    /// Like `run`, with extra environment variables (e.g. `SHORTPIXEL_API_KEY`).
    pub fn run_with_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Outcome {
        self.spawn_with_env(args, vars).wait()
    }

    /// `run --once`, the one-shot pass every guarantee test drives.
    pub fn run_once(&self) -> Outcome {
        self.run(&["run", "--once"])
    }

    /// Starts a command in the background; `Running::wait` collects it.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_with_env(args, &[])
    }

    pub fn spawn_with_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Running {
        self.spawn_in(&self.root(), args, vars)
    }

    /// Runs from another working directory (relative config paths must not care).
    pub fn run_in(&self, cwd: &Path, args: &[&str]) -> Outcome {
        self.spawn_in(cwd, args, &[]).wait()
    }

    pub fn spawn_in(&self, cwd: &Path, args: &[&str], vars: &[(&str, &str)]) -> Running {
        self.spawn_via(&[], cwd, args, vars)
    }

    /// Runs the agent with root's power to read and write anything taken away, so
    /// permission bits apply to it as they do to a service user. As root (CI, containers)
    /// it runs under `setpriv` without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; as
    /// anyone else it runs as is.
    pub fn run_unprivileged(&self, args: &[&str], vars: &[(&str, &str)]) -> Outcome {
        let wrapper: &[&str] = if is_root() {
            &["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
        } else {
            &[]
        };
        self.spawn_via(wrapper, &self.root(), args, vars).wait()
    }

    /// Starts `wrapper... shortpixel-agent --config <config.toml> ARGS...` (the wrapper may
    /// be empty) with the hermetic environment.
    pub fn spawn_via(
        &self,
        wrapper: &[&str],
        cwd: &Path,
        args: &[&str],
        vars: &[(&str, &str)],
    ) -> Running {
        let config = self.config_path();
        let mut argv: Vec<&std::ffi::OsStr> = wrapper.iter().map(|w| w.as_ref()).collect();
        argv.extend([BIN.as_ref(), "--config".as_ref(), config.as_os_str()]);
        argv.extend(args.iter().map(std::ffi::OsStr::new));
        let mut running = self.spawn_argv(&argv, cwd, vars);
        running.command = format!("shortpixel-agent {}", args.join(" "));
        running
    }

    /// `shortpixel-agent --config <config.toml> ARGS...` with arguments that need not be
    /// UTF-8 (file names are bytes, G10).
    pub fn run_os(&self, args: &[&std::ffi::OsStr]) -> Outcome {
        let config = self.config_path();
        let mut argv: Vec<&std::ffi::OsStr> = vec![BIN.as_ref(), "--config".as_ref()];
        argv.push(config.as_os_str());
        argv.extend(args);
        self.spawn_argv(&argv, &self.root(), &[]).wait()
    }

    /// Starts any command line with the hermetic environment (for wrappers such as
    /// script(1) that take the agent's command line as one string).
    pub fn spawn_argv<S: AsRef<std::ffi::OsStr>>(
        &self,
        argv: &[S],
        cwd: &Path,
        vars: &[(&str, &str)],
    ) -> Running {
        let home = self.path("home");
        let (program, rest) = argv.split_first().expect("a program to run");
        let mut cmd = Command::new(program);
        cmd.args(rest)
            .current_dir(cwd)
            .env_remove("SHORTPIXEL_API_KEY")
            .env_remove("SHORTPIXEL_AGENT_CONFIG")
            .env_remove("RUST_LOG")
            .env_remove("SHORTPIXEL_AGENT_LOG_FORMAT")
            .env_remove("NOTIFY_SOCKET")
            // `cargo test` passes this on; with it the agent's hints would say `cargo run`.
            .env_remove("CARGO_PKG_NAME")
            .env("SHORTPIXEL_AGENT_LOG", &self.log)
            .env("NO_COLOR", "1")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_RUNTIME_DIR", home.join("run"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let shown: Vec<String> = argv
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", shown[0]));
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        Running {
            command: shown.join(" "),
            child,
            stdout,
            stderr,
        }
    }

    /// `status --json`, which must succeed and print one JSON object.
    #[track_caller]
    pub fn status(&self) -> Status {
        let out = self.run(&["status", "--json"]);
        out.expect_code(0);
        match serde_json::from_str(out.stdout.trim()) {
            Ok(json) => Status(json),
            Err(e) => panic!("status --json is not one JSON object ({e}):\n{out}"),
        }
    }

    /// Relative path → blake3 of every file under `dir`.
    pub fn snapshot(&self, dir: &Path) -> BTreeMap<String, String> {
        files_under(dir)
            .into_iter()
            .map(|p| {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                (rel, hash(&p))
            })
            .collect()
    }
}

/// A command started in the background.
pub struct Running {
    command: String,
    child: Child,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `HUP`, `KILL`, …) with kill(1).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} {} failed", self.pid());
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("poll child").is_none()
    }

    /// Like `support::wait_until`, but a failure kills the process and shows what it printed.
    #[track_caller]
    pub fn wait_until(&mut self, timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !cond() {
            if Instant::now() >= deadline || !self.alive() {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let (out, err) = (take_output(&mut self.stdout), take_output(&mut self.stderr));
                panic!(
                    "gave up waiting for {what} after {timeout:?}; {}:\nstdout:\n{out}\nstderr:\n{}",
                    self.command,
                    tail(&err, 20_000)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it hard (SIGKILL) and collects what it printed.
    pub fn kill9(mut self) -> Outcome {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.collect(None)
    }

    /// Waits up to `RUN_TIMEOUT`; a command still running then is killed and the test fails
    /// with whatever it printed.
    pub fn wait(self) -> Outcome {
        self.wait_for(RUN_TIMEOUT)
    }

    pub fn wait_for(mut self, timeout: Duration) -> Outcome {
        let deadline = Instant::now() + timeout;
        let code = loop {
            match self.child.try_wait().expect("poll child") {
                Some(status) => break status.code(),
                None if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let out = self.collect(None);
                    panic!("timed out after {timeout:?}, killed:\n{out}");
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        self.collect(code)
    }

    fn collect(mut self, code: Option<i32>) -> Outcome {
        Outcome {
            command: std::mem::take(&mut self.command),
            code,
            stdout: take_output(&mut self.stdout),
            stderr: take_output(&mut self.stderr),
        }
    }
}

/// What a reader thread collected, leaving an empty one in its place.
fn take_output(h: &mut JoinHandle<String>) -> String {
    std::mem::replace(h, std::thread::spawn(String::new))
        .join()
        .unwrap_or_default()
}

/// A test that fails while its daemon runs must not leave the daemon behind: on a shared
/// machine it would keep a core busy long after the suite ends.
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a finished command printed and how it exited.
pub struct Outcome {
    pub command: String,
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// stdout and stderr together, for "the message mentions ..." checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Fails the test, showing the full output, unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Outcome {
        assert_eq!(
            self.code,
            Some(code),
            "`{}` should exit {code}:\n{self}",
            self.command
        );
        self
    }

    /// Fails the test unless the output contains every word, ignoring case.
    #[track_caller]
    pub fn expect_mentions(&self, words: &[&str]) -> &Outcome {
        let all = self.all().to_lowercase();
        for word in words {
            assert!(
                all.contains(&word.to_lowercase()),
                "`{}` should mention {word:?}:\n{self}",
                self.command
            );
        }
        self
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {} -> exit {:?}", self.command, self.code)?;
        writeln!(f, "--- stdout ---\n{}", tail(&self.stdout, 4000))?;
        write!(f, "--- stderr ---\n{}", tail(&self.stderr, 12000))
    }
}

/// The last `max` bytes of a (possibly long, debug-logged) output.
fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Whether the tests run as root (whose permission checks always pass).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// The agent binary under test.
pub fn bin() -> &'static str {
    BIN
}

/// blake3 hex of a file's bytes.
#[track_caller]
pub fn hash(path: &Path) -> String {
    blake3::hex(&read(path))
}

#[track_caller]
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Writes `bytes` at `path`, creating parent folders.
#[track_caller]
pub fn write_file(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent folders");
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Every regular file under `dir`, recursively, sorted; empty if `dir` does not exist.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Puts back the permissions a test took away, even when it fails (so the temp tree can
/// be removed by a non-root developer).
pub struct Chmod(PathBuf);

impl Chmod {
    pub fn set(path: PathBuf, mode: u32) -> Chmod {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        Chmod(path)
    }
}

impl Drop for Chmod {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
    }
}
