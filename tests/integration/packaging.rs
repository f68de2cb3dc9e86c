//! What ships besides the binary, checked with the tools this machine has: every example
//! and packaged config parses as a real config; the systemd units pass `systemd-analyze
//! verify` (with the real binary's path put in); the launchd and Task Scheduler files are
//! well-formed XML with the keys those need; the Docker files name only files that exist and
//! the entry point really drops to PUID:PGID; the .deb builds from the test build and holds
//! what the README promises; and the daemon tells systemd when it is ready.
//!
//! Docker itself cannot run here (no engine), so the image is never built by these tests.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use shortpixel_agent::config::{
    load_str, BackendKind, Compression, Config as AgentConfig, Convert, Mode,
};
use shortpixel_emulator::Emulator;

use crate::support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Loads a shipped config as the agent would, with its absolute paths moved under `root`
/// (so /srv/photos becomes <root>/srv/photos) and its folders and key file created there.
fn load_rerooted(rel: &str, root: &Path) -> AgentConfig {
    let original = text(rel);
    let rerooted = original.replace("\"/", &format!("\"{}/", root.display()));
    let value: toml::Value = toml::from_str(&rerooted).unwrap_or_else(|e| panic!("{rel}: {e}"));
    for folder in value
        .get("folder")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
    {
        let path = folder["path"].as_str().expect("folder.path");
        std::fs::create_dir_all(root.join(path)).unwrap();
    }
    if let Some(key_file) = value.get("api_key_file").and_then(|v| v.as_str()) {
        write_file(&root.join(key_file), b"EXAMPLE-KEY\n");
    }
    if let Some(token_file) = value
        .get("dashboard")
        .and_then(|d| d.get("token_file"))
        .and_then(|v| v.as_str())
    {
        write_file(
            &root.join(token_file),
            b"0123456789abcdef0123456789abcdef\n",
        );
    }
    let file = root.join("config.toml");
    // No key from the environment: what the file says is what is checked.
    load_str(&file, &rerooted, None).unwrap_or_else(|e| panic!("{rel} does not load: {e}"))
}

#[test]
fn every_example_and_packaged_config_parses_as_a_real_config() {
    let mut examples: Vec<String> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|e| format!("examples/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|name| name.ends_with(".toml"))
        .collect();
    examples.sort();
    assert_eq!(
        examples,
        [
            "examples/desktop-photos.toml",
            "examples/low-credits.toml",
            "examples/nas-mirror.toml",
            "examples/website-uploads.toml"
        ],
        "a new example needs its expectations below"
    );
    let mut loaded = BTreeMap::new();
    for rel in examples
        .iter()
        .map(String::as_str)
        .chain(["packaging/deb/config.toml", "packaging/docker/config.toml"])
    {
        let root = tempfile::tempdir().unwrap();
        loaded.insert(rel.to_owned(), load_rerooted(rel, root.path()));
    }
    let folder = |rel: &str| loaded[rel].folders[0].clone();

    let desktop = folder("examples/desktop-photos.toml");
    assert_eq!(desktop.mode, Mode::Replace);
    assert_eq!(desktop.settings.compression, Compression::Glossy);
    assert!(desktop.settings.keep_exif);

    let nas = folder("examples/nas-mirror.toml");
    assert_eq!(nas.mode, Mode::Mirror);
    assert!(nas.output.is_some());
    assert_eq!(nas.settings.convert, vec![Convert::Webp]);

    let web = folder("examples/website-uploads.toml");
    assert_eq!(web.settings.compression, Compression::Lossy);
    assert_eq!(web.settings.convert, vec![Convert::Webp, Convert::Avif]);
    let resize = web.settings.resize.expect("resize");
    assert_eq!((resize.width, resize.height), (2048, 2048));

    let low = &loaded["examples/low-credits.toml"];
    assert_eq!(low.backend, BackendKind::Shortpixel);
    assert_eq!(low.concurrency, 1);
    assert!(low.folders[0].exclude.is_match("2024/photo-150x150.jpg"));
    assert!(!low.folders[0].exclude.is_match("2024/photo.jpg"));

    let deb = &loaded["packaging/deb/config.toml"];
    assert!(deb.ledger.ends_with("var/lib/shortpixel-agent/ledger.db"));
    assert_eq!(deb.folders[0].mode, Mode::Mirror);
    let docker = &loaded["packaging/docker/config.toml"];
    assert!(docker.backup_dir.ends_with("data/backups"));
    let dashboard = docker
        .dashboard
        .as_ref()
        .expect("the image serves the dashboard");
    assert_eq!(dashboard.listen.port(), 8719);
    assert!(
        dashboard.token.is_some(),
        "published on the network, so with a token"
    );
}

/// `systemd-analyze verify` on `unit` written into `dir`, with `/usr/bin/shortpixel-agent`
/// replaced by `exec`; fails on any complaint, warnings included.
fn verify_unit(unit_text: &str, dir: &Path, exec: &str, user: bool, env: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    let unit = dir.join("shortpixel-agent.service");
    std::fs::write(&unit, unit_text.replace("/usr/bin/shortpixel-agent", exec)).unwrap();
    let runtime = dir.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut cmd = Command::new("systemd-analyze");
    cmd.arg("verify");
    if user {
        cmd.arg("--user");
    }
    if !env.iter().any(|(k, _)| *k == "MANPATH") {
        // The man page is checked where it is installed (the .deb test).
        cmd.arg("--man=no");
    }
    cmd.arg(&unit)
        .env("XDG_RUNTIME_DIR", &runtime)
        .envs(env.iter().copied());
    let out = cmd
        .output()
        .expect("systemd-analyze (from the systemd package) must be installed");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify {} complains:\n{said}",
        unit.display()
    );
}

#[test]
fn the_system_unit_is_sandboxed_reloads_restarts_and_passes_systemd_analyze() {
    let unit = text("packaging/systemd/shortpixel-agent.service");
    for line in [
        "Type=notify",
        "User=shortpixel",
        "ExecStart=/usr/bin/shortpixel-agent --config /etc/shortpixel-agent/config.toml run",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/shortpixel-agent",
        "StateDirectory=shortpixel-agent",
        "WantedBy=multi-user.target",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "system unit lacks `{line}`"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    verify_unit(&unit, dir.path(), bin(), false, &[]);
}

#[test]
fn the_user_unit_passes_systemd_analyze_as_packaged_and_as_the_readme_installs_it() {
    let unit = text("packaging/systemd/user/shortpixel-agent.service");
    for line in [
        "Type=notify",
        "ExecStart=/usr/bin/shortpixel-agent run",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "WantedBy=default.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "user unit lacks `{line}`");
    }
    let dir = tempfile::tempdir().unwrap();
    verify_unit(&unit, &dir.path().join("deb"), bin(), true, &[]);

    // After `cargo install`, the README's sed points it at ~/.cargo/bin (%h is $HOME).
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".cargo/bin")).unwrap();
    std::os::unix::fs::symlink(bin(), home.join(".cargo/bin/shortpixel-agent")).unwrap();
    let readme = text("README.md");
    let sed = "sed 's|/usr/bin/shortpixel-agent|%h/.cargo/bin/shortpixel-agent|'";
    assert!(
        readme.contains(sed),
        "the README installs the user unit with {sed}"
    );
    let installed = unit.replace(
        "/usr/bin/shortpixel-agent",
        "%h/.cargo/bin/shortpixel-agent",
    );
    verify_unit(
        &installed,
        &dir.path().join("cargo"),
        "unused",
        true,
        &[("HOME", home.to_str().unwrap())],
    );
}

/// The child elements of a plist `<dict>`, as key → value node.
fn plist_dict<'a>(dict: roxmltree::Node<'a, 'a>) -> BTreeMap<String, roxmltree::Node<'a, 'a>> {
    let elements: Vec<_> = dict.children().filter(|n| n.is_element()).collect();
    elements
        .chunks(2)
        .map(|pair| {
            assert_eq!(
                pair[0].tag_name().name(),
                "key",
                "plist dict must alternate key/value"
            );
            (pair[0].text().unwrap_or_default().to_owned(), pair[1])
        })
        .collect()
}

#[test]
fn the_launchd_agent_is_a_well_formed_plist_that_runs_the_daemon_at_login() {
    let xml = text("packaging/macos/shortpixel-agent.plist");
    let doc = roxmltree::Document::parse_with_options(
        &xml,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "plist");
    let dict = root
        .children()
        .find(|n| n.has_tag_name("dict"))
        .expect("a top-level dict");
    let keys = plist_dict(dict);
    assert_eq!(keys["Label"].text(), Some("shortpixel-agent"));
    let args: Vec<&str> = keys["ProgramArguments"]
        .children()
        .filter(|n| n.has_tag_name("string"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(args, ["__HOME__/.cargo/bin/shortpixel-agent", "run"]);
    assert!(keys["RunAtLoad"].has_tag_name("true"));
    let keep_alive = plist_dict(keys["KeepAlive"]);
    assert!(keep_alive["SuccessfulExit"].has_tag_name("false"));
    for log in ["StandardOutPath", "StandardErrorPath"] {
        assert!(keys[log]
            .text()
            .unwrap()
            .starts_with("__HOME__/Library/Logs/"));
    }
    let readme = text("README.md");
    assert!(
        readme.contains("sed \"s|__HOME__|$HOME|g\" packaging/macos/shortpixel-agent.plist"),
        "the README says how to fill in __HOME__"
    );
}

#[test]
fn the_windows_task_is_well_formed_and_starts_the_agent_in_wsl_at_logon() {
    let xml = text("packaging/windows/shortpixel-agent-task.xml");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let task = doc.root_element();
    assert_eq!(task.tag_name().name(), "Task");
    let find = |name: &str| {
        task.descendants()
            .find(|n| n.has_tag_name(name))
            .unwrap_or_else(|| panic!("no <{name}>"))
    };
    find("LogonTrigger");
    assert_eq!(find("Command").text(), Some(r"C:\Windows\System32\wsl.exe"));
    assert!(find("Arguments")
        .text()
        .unwrap()
        .ends_with("--exec /usr/bin/shortpixel-agent run"));
    assert_eq!(
        find("ExecutionTimeLimit").text(),
        Some("PT0S"),
        "a daemon must not be stopped after Task Scheduler's default 72 hours"
    );
}

#[test]
fn the_dockerfile_and_compose_file_name_only_files_that_exist() {
    let dockerfile = text("packaging/docker/Dockerfile");
    let stages = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert_eq!(stages, 2, "a build stage and a slim runtime stage");
    let mut copies = 0;
    for line in dockerfile.lines().filter(|l| l.starts_with("COPY ")) {
        if line.contains("--from=") {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        for src in &words[1..words.len() - 1] {
            assert!(
                repo().join(src).exists(),
                "the Dockerfile copies {src}, which is not in the repository"
            );
            copies += 1;
        }
    }
    assert!(copies >= 6, "{copies} sources copied");
    assert!(dockerfile.contains(r#"VOLUME ["/config", "/data", "/photos"]"#));
    assert!(
        dockerfile.contains(r#"CMD ["shortpixel-agent", "status"]"#),
        "healthcheck"
    );
    assert!(dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/entrypoint.sh\"]"));
    assert!(
        text(".dockerignore").lines().any(|l| l == "target/"),
        "a local build must stay out of the build context"
    );

    let compose = text("packaging/docker/compose.yaml");
    let context = compose
        .lines()
        .find_map(|l| l.trim().strip_prefix("context: "))
        .expect("build context");
    let dockerfile_path = compose
        .lines()
        .find_map(|l| l.trim().strip_prefix("dockerfile: "))
        .expect("dockerfile");
    let base = repo().join("packaging/docker").join(context);
    assert!(
        base.join(dockerfile_path).is_file(),
        "compose builds {dockerfile_path}"
    );
    // The dashboard is published, and the image says which port it serves.
    assert!(dockerfile.contains("EXPOSE 8719"));
    for want in [
        "PUID:",
        "PGID:",
        ":/config",
        ":/data",
        ":/photos",
        "\"8719:8719\"",
    ] {
        assert!(compose.contains(want), "compose.yaml lacks {want}");
    }
    let syntax = Command::new("sh")
        .arg("-n")
        .arg(repo().join("packaging/docker/entrypoint.sh"))
        .status()
        .unwrap();
    assert!(syntax.success(), "entrypoint.sh has a syntax error");
}

#[test]
fn the_docker_entrypoint_writes_a_starter_config_and_runs_the_agent_as_puid_pgid() {
    let env = TestEnv::new();
    let (uid, gid) = if is_root() {
        (4242, 4243)
    } else {
        let me = std::fs::metadata(env.root()).unwrap();
        (me.uid(), me.gid())
    };
    // The container's layout, under the temp tree: /config, /data, /photos.
    let data = env.path("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(env.path("config")).unwrap();
    let photo = env.add_jpeg("a.jpg", 160, 120, 1);
    let original = read(&photo);
    let starter = env.path("starter.toml");
    std::fs::write(
        &starter,
        text("packaging/docker/config.toml")
            .replace("\"/", &format!("\"{}/", env.root().display())),
    )
    .unwrap();
    for dir in [env.root(), env.photos()] {
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    if is_root() {
        std::os::unix::fs::chown(env.photos(), Some(uid), Some(gid)).unwrap();
        std::os::unix::fs::chown(&photo, Some(uid), Some(gid)).unwrap();
    }
    let bin_dir = Path::new(bin())
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let config = env.path("config/config.toml");
    let vars = [
        ("PATH", format!("{bin_dir}:/usr/bin:/bin:/usr/sbin:/sbin")),
        (
            "SHORTPIXEL_AGENT_CONFIG",
            config.to_string_lossy().into_owned(),
        ),
        ("SHORTPIXEL_AGENT_DATA", data.to_string_lossy().into_owned()),
        (
            "SHORTPIXEL_AGENT_STARTER",
            starter.to_string_lossy().into_owned(),
        ),
        ("PUID", uid.to_string()),
        ("PGID", gid.to_string()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let script = repo().join("packaging/docker/entrypoint.sh");
    let out = env
        .spawn_argv(
            &[
                Path::new("sh"),
                &script,
                Path::new("run"),
                Path::new("--once"),
            ],
            &env.root(),
            &vars,
        )
        .wait();
    out.expect_code(0).expect_mentions(&[
        "wrote a starter config",
        "wrote the dashboard's token",
        "done: 1 optimized",
    ]);
    let token = std::fs::metadata(env.path("config/dashboard.token")).unwrap();
    assert_eq!(token.mode() & 0o077, 0, "the token is the agent's alone");
    assert_eq!(token.len(), 48);
    assert!(
        config.is_file(),
        "the starter config is in the config volume"
    );
    assert_ne!(read(&photo), original, "the photo was optimized");
    let ledger = std::fs::metadata(data.join("ledger.db")).expect("the ledger is in /data");
    assert_eq!(
        (ledger.uid(), ledger.gid()),
        (uid, gid),
        "the agent ran as PUID:PGID, not as root"
    );
    let backup = std::fs::metadata(data.join("backups")).unwrap();
    assert_eq!(backup.uid(), uid);
}

#[test]
fn the_daemon_tells_systemd_it_is_ready_once_it_holds_the_ledger() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let socket_path = env.path("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let socket_var = socket_path.to_string_lossy().into_owned();
    let mut daemon = env.spawn_with_env(&["run"], &[("NOTIFY_SOCKET", &socket_var)]);
    let mut buf = [0u8; 256];
    let n = socket
        .recv(&mut buf)
        .expect("a notification from the daemon");
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap().trim(), "READY=1");
    assert!(daemon.alive());
    assert_eq!(
        env.status().0["daemon"]["running"],
        true,
        "ready means the ledger is already held"
    );
    daemon.signal("TERM");
    daemon.wait().expect_code(0);

    // An invalid config never reports ready: systemd sees the start fail.
    env.write_config("colour = \"blue\"\n");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    env.run_with_env(&["run"], &[("NOTIFY_SOCKET", &socket_var)])
        .expect_code(2);
    assert!(
        socket.recv(&mut buf).is_err(),
        "no READY=1 for a broken config"
    );
}

#[test]
fn the_deb_builds_from_the_test_build_and_holds_what_the_readme_promises() {
    let target = Path::new(bin()).parent().unwrap().parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let has_cargo_deb = Command::new(&cargo)
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_cargo_deb,
        "cargo-deb is not installed: `cargo install cargo-deb --version 3.8.0 --locked` \
         (the README's test command and .ci/run install it)"
    );
    let out_dir = tempfile::tempdir().unwrap();
    let deb = out_dir.path().join("shortpixel-agent.deb");
    // The binary the tests run, not a release build: `--profile dev --no-build`.
    let built = Command::new(&cargo)
        .args([
            "deb",
            "--no-build",
            "--profile",
            "dev",
            "--locked",
            "--fast",
            "--output",
        ])
        .arg(&deb)
        .current_dir(repo())
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "cargo deb failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );

    let listing = dpkg_deb(&["-c"], &deb);
    let mut missing = Vec::new();
    for path in [
        "./usr/bin/shortpixel-agent",
        "./etc/shortpixel-agent/config.toml",
        "./usr/lib/systemd/system/shortpixel-agent.service",
        "./usr/lib/systemd/user/shortpixel-agent.service",
        "./usr/share/man/man1/shortpixel-agent.1.gz",
        "./usr/share/man/man1/shortpixel-agent-backups-prune.1.gz",
        "./usr/share/bash-completion/completions/shortpixel-agent",
        "./usr/share/zsh/vendor-completions/_shortpixel-agent",
        "./usr/share/fish/vendor_completions.d/shortpixel-agent.fish",
        "./usr/share/doc/shortpixel-agent/README.md",
        "./usr/share/doc/shortpixel-agent/copyright",
        "./usr/share/doc/shortpixel-agent/examples/nas-mirror.toml",
    ] {
        if !listing.lines().any(|l| l.ends_with(&format!(" {path}"))) {
            missing.push(path);
        }
    }
    assert!(missing.is_empty(), "the .deb lacks {missing:?}:\n{listing}");
    assert!(
        listing.lines().any(|l| l.starts_with("-rw-r----- 0/0")
            && l.ends_with("./etc/shortpixel-agent/config.toml")),
        "the config may hold the key: not world-readable\n{listing}"
    );

    let control = out_dir.path().join("control");
    let status = Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(&control)
        .status()
        .unwrap();
    assert!(status.success());
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert!(conffiles
        .lines()
        .any(|l| l == "/etc/shortpixel-agent/config.toml"));
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(
        postinst.contains("useradd --system"),
        "postinst creates the service user"
    );
    assert!(
        !postinst.contains("#DEBHELPER#"),
        "the systemd snippets were filled in"
    );
    // Not enabled or started on a first install (the config must be edited first); an
    // upgrade restarts it only if it runs.
    assert!(postinst.contains("was-enabled") && postinst.contains("try-restart"));
    assert!(!postinst.contains("_dh_action=start"), "{postinst}");

    // What the package installs works: the binary runs, the unit verifies against it with
    // the packaged man page, and the packaged config loads.
    let root = out_dir.path().join("root");
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    let packaged = root.join("usr/bin/shortpixel-agent");
    let version = Command::new(&packaged).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("shortpixel-agent {}", env!("CARGO_PKG_VERSION"))
    );
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/shortpixel-agent.service"))
            .unwrap();
    verify_unit(
        &unit,
        &out_dir.path().join("verify"),
        packaged.to_str().unwrap(),
        false,
        &[("MANPATH", root.join("usr/share/man").to_str().unwrap())],
    );
}

/// `dpkg-deb ARGS DEB`'s stdout; fails the test if it fails.
fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .expect("dpkg-deb must be installed (Debian's dpkg package)");
    assert!(
        out.status.success(),
        "dpkg-deb {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_readmes_two_commands_are_short_and_ci_runs_exactly_its_test_command() {
    let readme = text("README.md");
    let section = &readme[readme.find("## The two commands").expect("the section")..];
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block");
    // Each line is the command itself: nothing to strip, no comment, chain or sudo.
    let commands: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        commands,
        ["cargo run --release -- run --once ~/Pictures", ".ci/run"],
        "two short commands, no shell to read"
    );
    let own = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    assert!(
        !own.contains("sudo "),
        "nothing in the two commands' section asks the reader to run sudo"
    );
    assert!(
        section.contains("cargo run --release -- restore --all"),
        "the undo line is beside command 1"
    );
    let ci = text(".ci/run");
    let last = ci.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert_eq!(last, "exec cargo test --workspace --locked");
    assert!(
        section.contains("`cargo test --workspace --locked`"),
        "the README says what .ci/run runs"
    );
    let mode = std::fs::metadata(repo().join(".ci/run")).unwrap().mode();
    assert!(
        mode & 0o111 != 0,
        ".ci/run is executable, as the README runs it"
    );
}
