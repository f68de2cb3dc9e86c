//! `shortpixel-emulator`: runs the ShortPixel API emulator standalone, for trying the agent
//! by hand without spending real credits.
//!
//! Usage: `shortpixel-emulator [--port N] [--key KEY:QUOTA]... [--pending-polls N]`
//! Prints the URL to use as `api_url` and serves on 127.0.0.1 until Ctrl-C or SIGTERM; the
//! CDN domain API (`cdn_api_url`) is that URL followed by `/cdn`.

use std::process::ExitCode;

use shortpixel_emulator::Emulator;

const USAGE: &str =
    "usage: shortpixel-emulator [--port N] [--key KEY:QUOTA]... [--pending-polls N]";

struct Args {
    port: u16,
    keys: Vec<(String, u64)>,
    pending_polls: u32,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut out = Args {
        port: 0,
        keys: Vec::new(),
        pending_polls: 0,
    };
    while let Some(arg) = args.next() {
        // Accept both "--flag value" and "--flag=value".
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        match flag.as_str() {
            "--help" | "-h" => return Err(String::new()),
            "--port" | "--pending-polls" | "--key" => {}
            _ => return Err(format!("unknown argument: {flag}")),
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => out.port = value.parse().map_err(|_| format!("bad port: {value}"))?,
            "--pending-polls" => {
                out.pending_polls = value.parse().map_err(|_| format!("bad count: {value}"))?;
            }
            "--key" => {
                let (key, quota) = value
                    .rsplit_once(':')
                    .ok_or(format!("expected KEY:QUOTA, got {value}"))?;
                let quota = quota.parse().map_err(|_| format!("bad quota: {quota}"))?;
                out.keys.push((key.to_owned(), quota));
            }
            _ => unreachable!("flags are checked above"),
        }
    }
    Ok(out)
}

/// Blocks until Ctrl-C or (on Unix) SIGTERM.
fn wait_for_signal() -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await
    })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("shortpixel-emulator: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let emu = match Emulator::start_on(args.port) {
        Ok(emu) => emu,
        Err(e) => {
            eprintln!(
                "shortpixel-emulator: cannot listen on 127.0.0.1:{}: {e}",
                args.port
            );
            return ExitCode::FAILURE;
        }
    };
    for (key, quota) in &args.keys {
        emu.add_key(key, *quota);
    }
    emu.pending_polls(args.pending_polls);
    println!("{}", emu.url());
    if let Err(e) = wait_for_signal() {
        eprintln!("shortpixel-emulator: waiting for a signal failed: {e}");
        return ExitCode::FAILURE;
    }
    drop(emu);
    ExitCode::SUCCESS
}
