//! `check` (alias `doctor`): one line per thing looked at, ✓ fine, ! a warning, ✗ a problem,
//! each saying what to do. Exit 0 when the agent can work (warnings allowed), 1 when a
//! problem would stop it, 2 when the config itself is invalid.

use std::path::Path;

use super::hint;
use crate::check::{self, Finding, Level};
use crate::config::{ConfigError, Missing};

pub fn run(config: Option<&Path>) -> anyhow::Result<i32> {
    let config = match super::load(config) {
        Ok(c) => c,
        Err(e) => {
            let text = match (e.downcast_ref::<ConfigError>(), e.downcast_ref::<Missing>()) {
                (Some(ce), _) => format!("{}: {}: {}", ce.file.display(), ce.key, ce.message),
                (None, Some(m)) => m.to_string(),
                (None, None) => return Err(e),
            };
            show(&Finding {
                level: Level::Problem,
                subject: "config".into(),
                text,
            });
            println!(
                "\nFix the config first; then run `{}` again.",
                hint::command("check")
            );
            return Ok(2);
        }
    };
    let mut findings = check::local(&config);
    match crate::lock::holder(&config.ledger) {
        Some(pid) => findings.insert(
            1,
            Finding {
                level: Level::Ok,
                subject: "agent".into(),
                text: match pid {
                    Some(pid) => format!("running (pid {pid})"),
                    None => "running".into(),
                },
            },
        ),
        None => findings.insert(
            1,
            Finding {
                level: Level::Ok,
                subject: "agent".into(),
                text: "not running".into(),
            },
        ),
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    findings.insert(2, rt.block_on(check::api(&config)));
    findings.splice(3..3, rt.block_on(check::public_domains(&config)));
    for f in &findings {
        show(f);
    }
    let count = |level| findings.iter().filter(|f| f.level == level).count();
    let (problems, warnings) = (count(Level::Problem), count(Level::Warning));
    println!();
    if problems > 0 {
        println!(
            "{problems} problem(s) to fix before the agent can work{}.",
            plural_warnings(warnings)
        );
        return Ok(1);
    }
    println!(
        "The agent can work here{}. See what it would do with `{}`, do it once with `{}`, or keep it running with `{}`.",
        plural_warnings(warnings),
        hint::command("run --once --dry-run"),
        hint::command("run --once"),
        hint::command("run")
    );
    Ok(0)
}

fn plural_warnings(n: usize) -> String {
    match n {
        0 => String::new(),
        n => format!(" ({n} warning(s) above)"),
    }
}

fn show(f: &Finding) {
    let mark = match f.level {
        Level::Ok => "✓",
        Level::Warning => "!",
        Level::Problem => "✗",
    };
    println!("{mark} {}: {}", f.subject, f.text);
}
