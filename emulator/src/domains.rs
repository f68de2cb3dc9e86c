//! The CDN domain API (`no-cdn.shortpixel.ai`), served under `/cdn` so that a test can tell
//! a request sent to `cdn_api_url` from one sent to `api_url`:
//! `GET /cdn/add-domain/DOMAIN[/KEY]`, `/cdn/read-domain/DOMAIN`, `/cdn/set-domain/DOMAIN/KEY`,
//! `/cdn/revoke-domain/DOMAIN/KEY`.
//!
//! Behaviour, as the vendor page describes it:
//! - add: a new domain is added and associated with the key's account; without a valid key
//!   it is added unassociated (free credits only). An unassociated domain is associated by
//!   a later add or set with a valid key. Adding again with the owner's key is fine; a
//!   domain owned by another key cannot be taken.
//! - set: like add, but never adds a domain. revoke: only the owner's key can.
//! - read: the status value (2 OK, 1 credits almost exhausted, -1 exhausted, -2 used up
//!   some time ago, -3 not reachable) and the quota, following the owner's credits unless a
//!   test forces a value.
//!
//! The vendor page gives no reply shapes, so these are chosen: actions answer
//! `{"Status": {"Code": "2"|"1"|negative, "Message": ...}, "Domain": ...}` (1: added without
//! an account); read answers `{"Status": 2, "Domain": ..., quota fields}` with some numbers
//! as decimal strings, or another [`DomainShape`]; an unknown domain is HTTP 404.
//! The request log never holds the key inside a path: it is replaced by `{key}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Value};

use crate::handlers::App;
use crate::model::{DomainShape, Endpoint};
use crate::parse::Parsed;
use crate::server::ConnAbort;
use crate::state::State as EmuState;
use crate::wire::{json_reply, message};

/// Credits of a domain added without an account, as the vendor page says.
const FREE_CREDITS: u64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Add,
    Read,
    Set,
    Revoke,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Add => "add-domain",
            Action::Read => "read-domain",
            Action::Set => "set-domain",
            Action::Revoke => "revoke-domain",
        }
    }
}

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route(
            "/cdn/add-domain/{domain}",
            get(|app, abort, Path(domain)| answer(app, abort, Action::Add, domain, None)),
        )
        .route(
            "/cdn/add-domain/{domain}/{key}",
            get(|app, abort, Path((domain, key))| {
                answer(app, abort, Action::Add, domain, Some(key))
            }),
        )
        .route(
            "/cdn/read-domain/{domain}",
            get(|app, abort, Path(domain)| answer(app, abort, Action::Read, domain, None)),
        )
        .route(
            "/cdn/set-domain/{domain}/{key}",
            get(|app, abort, Path((domain, key))| {
                answer(app, abort, Action::Set, domain, Some(key))
            }),
        )
        .route(
            "/cdn/revoke-domain/{domain}/{key}",
            get(|app, abort, Path((domain, key))| {
                answer(app, abort, Action::Revoke, domain, Some(key))
            }),
        )
}

async fn answer(
    State(app): State<App>,
    Extension(abort): Extension<ConnAbort>,
    action: Action,
    domain: String,
    key: Option<String>,
) -> Response {
    let domain = domain.to_ascii_lowercase();
    let mut p = Parsed::default();
    p.fields.insert("action".into(), action.name().into());
    p.fields.insert("domain".into(), domain.clone());
    if let Some(k) = &key {
        p.fields.insert("key".into(), k.clone());
    }
    let shown = match key {
        Some(_) => format!("/cdn/{}/{domain}/{{key}}", action.name()),
        None => format!("/cdn/{}/{domain}", action.name()),
    };
    let idx = app.log(Endpoint::Domain, &p, vec![shown]);
    if let Err(resp) = app.pre_fault(&abort, Endpoint::Domain, idx).await {
        return resp;
    }
    let key = key.filter(|k| !k.is_empty());
    let (resp, code) = {
        let mut st = app.shared.lock();
        match action {
            Action::Read => read(&st, &domain),
            _ => act(&mut st, action, &domain, key.as_deref()),
        }
    };
    app.finish(idx, resp, code.into_iter().collect())
}

/// add / set / revoke.
fn act(
    st: &mut EmuState,
    action: Action,
    domain: &str,
    key: Option<&str>,
) -> (Response, Option<i32>) {
    let valid = key.filter(|k| st.keys.contains_key(*k)).map(str::to_owned);
    let owner = st.domains.get(domain).map(|d| d.owner.clone());
    let (code, text) = match (action, owner, valid) {
        (Action::Revoke, None, _) | (Action::Set, None, _) => (-2, "Domain not found"),
        (Action::Revoke, _, None) | (Action::Set, _, None) => (-401, message(-401)),
        (Action::Revoke, Some(owner), Some(k)) if owner.as_ref() == Some(&k) => {
            st.domains.entry(domain.to_owned()).or_default().owner = None;
            (2, "Domain association revoked")
        }
        (Action::Revoke, ..) => (
            -1,
            "Only the account the domain is associated with can revoke it",
        ),
        (_, Some(Some(owner)), Some(k)) if owner == k => {
            (2, "Domain already associated with your account")
        }
        (_, Some(Some(_)), _) => (-1, "Domain already associated with another account"),
        (_, _, Some(k)) => {
            st.domains.entry(domain.to_owned()).or_default().owner = Some(k);
            (2, "Domain associated with your account")
        }
        (_, _, None) => {
            st.domains.entry(domain.to_owned()).or_default();
            (
                1,
                "Domain added without an account: only the free credits can be used",
            )
        }
    };
    let body = json!({
        "Status": {"Code": code.to_string(), "Message": text},
        "Domain": domain,
    });
    (json_reply(&body), Some(code))
}

fn read(st: &EmuState, domain: &str) -> (Response, Option<i32>) {
    let Some(entry) = st.domains.get(domain) else {
        let resp = (StatusCode::NOT_FOUND, "Domain not found\n").into_response();
        return (resp, None);
    };
    let account = entry.owner.as_ref().and_then(|k| st.keys.get(k));
    let (quota, used, free) = account.map_or((FREE_CREDITS, 0, 0), |a| (a.quota, a.used, a.free));
    let left = quota.saturating_sub(used);
    let status = entry.status.unwrap_or(if left == 0 {
        -1
    } else if left * 10 <= quota {
        1
    } else {
        2
    });
    let status_value = match st.domain_shape {
        DomainShape::Number | DomainShape::Bare => json!(status),
        DomainShape::NumericString => json!(status.to_string()),
        DomainShape::CodeObject => json!({"Code": status.to_string(), "Message": "Success"}),
    };
    if st.domain_shape == DomainShape::Bare {
        return (json_reply(&status_value), Some(status));
    }
    // Some numbers as decimal strings, as the vendor's cdn-usage example shows them.
    let body: Value = json!({
        "Status": status_value,
        "Domain": domain,
        "APIQuota": quota,
        "PaidAPICalls": format!("{used}.00000000000"),
        "FreeAPICalls": format!("{free}.00000000000"),
        "APIQuotaOneTime": "0.00000000000",
        "PaidAPICallsOneTime": "0.00000000000",
        "CDNQuota": 0,
        "UsedCDNTraffic": "0",
    });
    (json_reply(&body), Some(status))
}
