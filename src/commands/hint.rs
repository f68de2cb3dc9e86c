//! The commands that hints tell the user to type, exactly as they would type them: the
//! program as they ran it (`shortpixel-agent` found on PATH, the path they typed, or
//! `cargo run --release --` when it was run through cargo) followed by the `--config` they
//! gave. A hint that names a program not on PATH, or drops `--config`, sends the user into
//! an error.

use std::path::Path;
use std::sync::OnceLock;

/// "cargo run --release -- --config ./agent.toml", set once by [`init`].
static PREFIX: OnceLock<String> = OnceLock::new();

/// Records how this process was started. Call once, from `main`, with the `--config` value
/// as the user typed it.
pub fn init(config: Option<&Path>) {
    let argv0 = std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let exe = std::env::current_exe().ok();
    let cargo_package = std::env::var("CARGO_PKG_NAME").ok();
    let _ = PREFIX.set(prefix(
        &argv0,
        exe.as_deref(),
        cargo_package.as_deref(),
        config,
    ));
}

/// The full command line for `args` (e.g. `"restore --all"`), ready to copy.
pub fn command(args: &str) -> String {
    let prefix = PREFIX.get().map_or("shortpixel-agent", String::as_str);
    format!("{prefix} {args}")
}

/// The program and `--config` part of a hint. `cargo_package` is `CARGO_PKG_NAME`, which
/// `cargo run` sets for the program it starts.
fn prefix(
    argv0: &str,
    exe: Option<&Path>,
    cargo_package: Option<&str>,
    config: Option<&Path>,
) -> String {
    let profile = exe
        .and_then(Path::parent)
        .filter(|dir| dir.parent().and_then(Path::file_name).is_some())
        .and_then(Path::file_name)
        .map(|p| p.to_string_lossy().into_owned());
    let program = match (cargo_package, profile.as_deref()) {
        (Some("shortpixel-agent"), Some("release")) => "cargo run --release --".to_string(),
        (Some("shortpixel-agent"), Some("debug")) => "cargo run --".to_string(),
        (Some("shortpixel-agent"), Some(other)) => format!("cargo run --profile {other} --"),
        // Typed as a path (./target/release/shortpixel-agent): the same path works again.
        _ if argv0.contains('/') => quote(argv0),
        // Found on PATH under the name typed.
        _ if !argv0.is_empty() => quote(argv0),
        _ => "shortpixel-agent".to_string(),
    };
    match config {
        Some(c) => format!("{program} --config {}", quote(&c.to_string_lossy())),
        None => program,
    }
}

/// `s` as one shell word: as it is when it holds nothing the shell would split or expand.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:=@%~".contains(c))
        && !s.starts_with('~');
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn through_cargo_run_the_hint_is_cargo_run_with_the_same_profile_and_config() {
        let exe = Path::new("/src/spa/target/release/shortpixel-agent");
        let p = prefix(
            "target/release/shortpixel-agent",
            Some(exe),
            Some("shortpixel-agent"),
            Some(Path::new("./agent.toml")),
        );
        assert_eq!(p, "cargo run --release -- --config ./agent.toml");
        let exe = Path::new("/src/spa/target/debug/shortpixel-agent");
        let p = prefix("x", Some(exe), Some("shortpixel-agent"), None);
        assert_eq!(p, "cargo run --");
    }

    #[test]
    fn otherwise_the_program_is_named_as_it_was_typed() {
        let exe = Path::new("/home/u/.cargo/bin/shortpixel-agent");
        assert_eq!(
            prefix("shortpixel-agent", Some(exe), None, None),
            "shortpixel-agent"
        );
        assert_eq!(
            prefix(
                "./target/release/shortpixel-agent",
                Some(exe),
                Some("another-crate"),
                Some(Path::new("/etc/my photos.toml"))
            ),
            "./target/release/shortpixel-agent --config '/etc/my photos.toml'"
        );
    }

    #[test]
    fn quoting_keeps_odd_paths_one_word() {
        assert_eq!(quote("/a/b-c_d.toml"), "/a/b-c_d.toml");
        assert_eq!(quote("it's here"), r"'it'\''s here'");
        assert_eq!(quote("$HOME/x"), "'$HOME/x'");
    }
}
