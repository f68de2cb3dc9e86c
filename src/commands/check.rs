//! `check` (alias `doctor`): one line per thing looked at, ✓ fine, ! a warning, ✗ a problem,
//! each saying what to do. Exit 0 when the agent can work (warnings allowed), 1 when a
//! problem would stop it, 2 when the config itself is invalid.

use std::path::Path;

use crate::check::{self, Finding, Level};
use crate::config::ConfigError;

pub fn run(config: Option<&Path>) -> anyhow::Result<i32> {
    let config = match super::load(config) {
        Ok(c) => c,
        Err(e) => {
            let Some(ce) = e.downcast_ref::<ConfigError>() else {
                return Err(e);
            };
            show(&Finding {
                level: Level::Problem,
                subject: "config".into(),
                text: format!("{}: {}: {}", ce.file.display(), ce.key, ce.message),
            });
            println!("\nFix the config first; then run `shortpixel-agent check` again.");
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
        "The agent can work here{}. Start it with `shortpixel-agent run`.",
        plural_warnings(warnings)
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
