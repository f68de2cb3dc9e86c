//! The CDN domain API under `cdn_url()`: adding, associating, revoking and reading domains
//! as the vendor page describes, in every reply shape the agent must read, without the key
//! ever appearing in a logged path.

mod common;

use common::*;
use serde_json::Value;
use shortpixel_emulator::{DomainShape, Emulator, Endpoint, Fault};

const KEY: &str = "OWNERKEY1";
const OTHER: &str = "OTHERKEY2";

fn emu() -> Emulator {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.add_key(OTHER, 1000);
    emu
}

async fn call(emu: &Emulator, path: &str) -> (u16, String) {
    let resp = get(&format!("{}/{path}", emu.cdn_url())).await;
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

async fn json(emu: &Emulator, path: &str) -> Value {
    let (status, body) = call(emu, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[tokio::test]
async fn add_associates_a_new_domain_and_read_reports_status_and_quota() {
    let emu = emu();
    let added = json(&emu, &format!("add-domain/Example.com/{KEY}")).await;
    assert_eq!(code(&added), 2, "{added}");
    assert_eq!(emu.domain_owner("example.com"), Some(Some(KEY.into())));
    let again = json(&emu, &format!("add-domain/example.com/{KEY}")).await;
    assert_eq!(code(&again), 2, "adding again is safe: {again}");

    let read = json(&emu, "read-domain/example.com").await;
    assert_eq!(read["Status"], 2, "a bare number by default: {read}");
    assert_eq!(read["APIQuota"], 1000);
    assert_eq!(num(&read["PaidAPICalls"]), 0.0);
    emu.set_quota(KEY, 0);
    assert_eq!(json(&emu, "read-domain/example.com").await["Status"], -1);
    for forced in [1, -2, -3] {
        emu.set_domain_status("example.com", forced);
        assert_eq!(
            json(&emu, "read-domain/example.com").await["Status"],
            forced
        );
    }
    let (status, _) = call(&emu, "read-domain/unknown.org").await;
    assert_eq!(status, 404, "an unknown domain");
}

#[tokio::test]
async fn a_domain_owned_by_another_key_cannot_be_taken_or_revoked_by_it() {
    let emu = emu();
    emu.add_domain("example.com", Some(KEY));
    for path in [
        format!("add-domain/example.com/{OTHER}"),
        format!("set-domain/example.com/{OTHER}"),
        format!("revoke-domain/example.com/{OTHER}"),
    ] {
        let reply = json(&emu, &path).await;
        assert!(code(&reply) < 0, "{path}: {reply}");
    }
    assert_eq!(emu.domain_owner("example.com"), Some(Some(KEY.into())));
    let revoked = json(&emu, &format!("revoke-domain/example.com/{KEY}")).await;
    assert_eq!(code(&revoked), 2, "{revoked}");
    assert_eq!(emu.domain_owner("example.com"), Some(None));
}

#[tokio::test]
async fn add_without_a_valid_key_adds_unassociated_and_set_associates_later() {
    let emu = emu();
    let bare = json(&emu, "add-domain/a.example").await;
    assert_eq!(code(&bare), 1, "{bare}");
    assert_eq!(emu.domain_owner("a.example"), Some(None));
    let wrong = json(&emu, "add-domain/b.example/NOT-A-KEY").await;
    assert_eq!(code(&wrong), 1, "{wrong}");
    assert_eq!(emu.domain_owner("b.example"), Some(None));
    assert_eq!(json(&emu, "read-domain/a.example").await["APIQuota"], 500);

    assert_eq!(
        code(&json(&emu, &format!("set-domain/c.example/{KEY}")).await),
        -2,
        "set never adds"
    );
    assert_eq!(
        code(&json(&emu, "set-domain/a.example/NOT-A-KEY").await),
        -401
    );
    assert_eq!(
        code(&json(&emu, &format!("set-domain/a.example/{KEY}")).await),
        2
    );
    assert_eq!(emu.domain_owner("a.example"), Some(Some(KEY.into())));
}

#[tokio::test]
async fn read_domain_answers_in_each_lenient_shape() {
    let emu = emu();
    emu.add_domain("example.com", Some(KEY));
    emu.domain_shape(DomainShape::NumericString);
    assert_eq!(json(&emu, "read-domain/example.com").await["Status"], "2");
    emu.domain_shape(DomainShape::CodeObject);
    assert_eq!(
        json(&emu, "read-domain/example.com").await["Status"]["Code"],
        "2"
    );
    emu.domain_shape(DomainShape::Bare);
    assert_eq!(json(&emu, "read-domain/example.com").await, 2);
}

#[tokio::test]
async fn the_log_hides_the_key_in_paths_and_faults_apply() {
    let emu = emu();
    json(&emu, &format!("add-domain/example.com/{KEY}")).await;
    emu.inject(Endpoint::Domain, Fault::Body("<html>oops</html>".into()), 1);
    assert_eq!(
        call(&emu, "read-domain/example.com").await,
        (200, "<html>oops</html>".into())
    );
    let log = emu.requests();
    assert!(log.iter().all(|r| r.endpoint == Endpoint::Domain));
    assert_eq!(log[0].urls, ["/cdn/add-domain/example.com/{key}"]);
    assert_eq!(log[0].key.as_deref(), Some(KEY));
    assert_eq!(log[0].codes, [2]);
    assert!(log.iter().all(|r| r.urls.iter().all(|u| !u.contains(KEY))));
    assert_eq!(log[1].fault, Some(Fault::Body("<html>oops</html>".into())));
}
