//! `status [--json]`.

use std::path::Path;
use std::time::Duration;

use crate::config::BackendKind;
use crate::ledger::Ledger;
use crate::optimize::shortpixel::Client;
use crate::status::{self, Daemon};

pub fn run(config: Option<&Path>, json: bool) -> anyhow::Result<i32> {
    let config = super::load(config)?;
    let ledger = Ledger::open_read_only(&config.ledger)?;
    let holder = crate::lock::holder(&config.ledger);
    let daemon = Daemon {
        running: holder.is_some(),
        pid: holder.flatten(),
        queued: 0,
        in_flight: 0,
        state: None,
        last_scan: None,
    };
    let credits = match (&config.api_key, config.backend) {
        (Some(key), BackendKind::Shortpixel) => {
            let mut net = config.network.clone();
            net.timeout = net.timeout.min(Duration::from_secs(10));
            let client = Client::new(&config.api_url, key.clone(), &net)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            match rt.block_on(client.credits()) {
                Ok(c) => Some(c),
                Err(e) => {
                    if !json {
                        eprintln!("credits unknown: {e}");
                    }
                    None
                }
            }
        }
        _ => None,
    };
    let report = status::report(&config, ledger.as_ref(), daemon, credits)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", status::render(&report));
    }
    Ok(0)
}
