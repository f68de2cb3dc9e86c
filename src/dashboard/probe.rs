//! Whether the dashboard answers at its address, for `check`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The URL a browser on this machine would use for `listen` (a wildcard address is
/// reached through the loopback).
pub fn url(listen: SocketAddr) -> String {
    format!("http://{}/", local(listen))
}

fn local(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Asks `/api/status`; `Err` says why it did not answer as the dashboard.
pub async fn probe(listen: SocketAddr) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}api/status?brief=true", url(listen));
    let resp = client
        .get(&url)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.map_err(|_| {
        format!("something else answers there (HTTP {status}, not the dashboard's JSON)")
    })?;
    if status.is_success() && body["daemon"]["running"] == true {
        Ok(())
    } else {
        Err(format!("it answered HTTP {status}"))
    }
}
