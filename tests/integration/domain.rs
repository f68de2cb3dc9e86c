//! `domain (add|read|set|revoke) DOMAIN [--json]` against the emulator's CDN domain API, and
//! `check` reporting the domain of each folder's `public_url`. The key travels in the URL
//! path of this API, so every test runs at trace level and asserts that the key appears in
//! no output (G8); a redirect must not carry it anywhere.

use shortpixel_emulator::{DomainShape, Emulator, Endpoint, Fault, Serve, Site};

use crate::support::*;

/// Distinctive enough that any occurrence is the key.
const SECRET: &str = "CDNsecret93be0a";

fn traced(emu: &Emulator) -> TestEnv {
    let mut env = TestEnv::new();
    env.log = "trace".to_owned();
    env.configure(&Config::emulator(emu).key(SECRET));
    env
}

#[track_caller]
fn assert_no_key(out: &Outcome) {
    assert!(
        !out.all().contains(SECRET),
        "G8: the key was printed:\n{out}"
    );
}

fn json_of(out: &Outcome) -> serde_json::Value {
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}):\n{out}"))
}

#[test]
fn domain_add_associates_the_domain_with_the_configured_key_and_never_prints_it() {
    let emu = Emulator::start_with_key(SECRET, 100);
    let env = traced(&emu);
    let out = env.run(&["domain", "add", "Example.com"]);
    out.expect_code(0)
        .expect_mentions(&["example.com", "accepted by ShortPixel", "code 2"]);
    assert_no_key(&out);
    assert_eq!(emu.domain_owner("example.com"), Some(Some(SECRET.into())));
    let log = emu.requests();
    assert_eq!(
        log.len(),
        1,
        "one request, to the CDN API only: {}",
        log_summary(&emu)
    );
    assert_eq!(log[0].endpoint, Endpoint::Domain);

    let again = env.run(&["domain", "add", "example.com", "--json"]);
    again.expect_code(0);
    assert_no_key(&again);
    let v = json_of(&again);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["action"], "add");
    assert_eq!(v["code"], 2);
}

#[test]
fn domain_read_says_each_status_in_words_with_the_quota_in_every_reply_shape() {
    let emu = Emulator::start_with_key(SECRET, 1000);
    emu.add_domain("example.com", Some(SECRET));
    let env = traced(&emu);
    let out = env.run(&["domain", "read", "example.com"]);
    out.expect_code(0).expect_mentions(&[
        "example.com: OK (status 2)",
        "credits this month: 0 of 1000 used, 1000 left",
    ]);
    for (status, words) in [
        (1, "credits almost exhausted"),
        (-1, "credits exhausted"),
        (-2, "credits used up some time ago"),
        (-3, "not reachable"),
        (7, "does not document"),
    ] {
        emu.set_domain_status("example.com", status);
        for shape in [
            DomainShape::Number,
            DomainShape::NumericString,
            DomainShape::CodeObject,
            DomainShape::Bare,
        ] {
            emu.domain_shape(shape);
            let out = env.run(&["domain", "read", "example.com", "--json"]);
            out.expect_code(0);
            let v = json_of(&out);
            assert_eq!(v["status"], status, "{shape:?}: {v}");
            assert_eq!(
                v["meaning"].as_str().is_some(),
                status != 7,
                "{shape:?}: {v}"
            );
        }
        let out = env.run(&["domain", "read", "example.com"]);
        out.expect_code(0).expect_mentions(&[
            &format!("(status {status})").replace("(status 7)", "status 7"),
            words,
        ]);
        assert_no_key(&out);
    }
    assert!(
        emu.requests().iter().all(|r| r.key.is_none()),
        "read-domain needs no key, so none is sent"
    );
}

#[test]
fn domain_refusals_exit_1_and_say_why_and_set_and_revoke_work_for_the_owner() {
    let emu = Emulator::start_with_key(SECRET, 100);
    emu.add_key("SOMEONE-ELSE-1", 100);
    emu.add_domain("taken.example", Some("SOMEONE-ELSE-1"));
    emu.add_domain("free.example", None);
    let env = traced(&emu);
    let out = env.run(&["domain", "add", "taken.example"]);
    out.expect_code(1)
        .expect_mentions(&["refused to add taken.example", "another account"]);
    assert_no_key(&out);
    assert_eq!(
        emu.domain_owner("taken.example"),
        Some(Some("SOMEONE-ELSE-1".into()))
    );
    let json = env.run(&["domain", "revoke", "taken.example", "--json"]);
    json.expect_code(1);
    assert_eq!(json_of(&json)["ok"], false);

    env.run(&["domain", "set", "free.example"]).expect_code(0);
    assert_eq!(emu.domain_owner("free.example"), Some(Some(SECRET.into())));
    env.run(&["domain", "revoke", "free.example"])
        .expect_code(0);
    assert_eq!(emu.domain_owner("free.example"), Some(None));

    let unknown = env.run(&["domain", "read", "nowhere.example"]);
    unknown.expect_code(1).expect_mentions(&[
        "does not know nowhere.example",
        "domain add nowhere.example",
    ]);
}

#[test]
fn domain_bad_usage_exits_2_and_sends_nothing() {
    let emu = Emulator::start_with_key(SECRET, 100);
    let env = traced(&emu);
    for bad in [
        "https://example.com",
        "example.com/photos",
        "../revoke-domain/x",
        "",
    ] {
        env.run(&["domain", "add", bad])
            .expect_code(2)
            .expect_mentions(&["is not a domain name"]);
    }
    env.run(&["domain", "remove", "example.com"]).expect_code(2);
    env.configure(&Config::emulator(&emu).no_key_line());
    let out = env.run(&["domain", "add", "example.com"]);
    out.expect_code(2)
        .expect_mentions(&["api_key", "needs your ShortPixel API key"]);
    assert!(emu.requests().is_empty(), "{}", log_summary(&emu));
    emu.add_domain("example.com", None);
    env.run(&["domain", "read", "example.com"])
        .expect_code(0)
        .expect_mentions(&["OK (status 2)"]);
}

#[test]
fn domain_an_unreadable_answer_is_reported_as_such_with_the_body_logged_scrubbed() {
    let emu = Emulator::start_with_key(SECRET, 100);
    let env = traced(&emu);
    let page = format!("<html>proxy error for /add-domain/example.com/{SECRET}</html>");
    emu.inject(Endpoint::Domain, Fault::Body(page), 1);
    let out = env.run(&["domain", "add", "example.com"]);
    out.expect_code(1).expect_mentions(&[
        "could not be read",
        "proxy error for /add-domain/example.com/<api key>",
    ]);
    assert_no_key(&out);
    emu.inject(
        Endpoint::Domain,
        Fault::Body(r#"{"Status":"fine"}"#.into()),
        1,
    );
    env.run(&["domain", "read", "example.com"])
        .expect_code(1)
        .expect_mentions(&["could not be read"]);
    emu.inject(Endpoint::Domain, Fault::Http(503), 1);
    let out = env.run(&["domain", "set", "example.com"]);
    out.expect_code(1).expect_mentions(&["HTTP 503"]);
    assert_no_key(&out);
}

#[test]
fn domain_a_redirect_is_not_followed_so_the_key_goes_nowhere_else() {
    let emu = Emulator::start_with_key(SECRET, 100);
    let dir = tempfile::tempdir().unwrap();
    let (front, elsewhere) = (Site::serve(dir.path()), Site::serve(dir.path()));
    front.set(
        format!("add-domain/example.com/{SECRET}"),
        Serve::Redirect(format!("{}/collect", elsewhere.url())),
    );
    let env = traced(&emu);
    env.configure(
        &Config::emulator(&emu)
            .key(SECRET)
            .set("cdn_api_url", &config::quote(&front.url())),
    );
    let out = env.run(&["domain", "add", "example.com"]);
    out.expect_code(1)
        .expect_mentions(&["redirect", "not followed"]);
    assert_no_key(&out);
    assert_eq!(front.requests().len(), 1);
    assert!(elsewhere.requests().is_empty(), "the redirect was followed");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/cdn");
    env.configure(
        &Config::emulator(&emu)
            .key(SECRET)
            .set("cdn_api_url", &config::quote(&url)),
    );
    let out = env.run(&["domain", "add", "example.com"]);
    out.expect_code(1)
        .expect_mentions(&["could not connect", "cdn_api_url"]);
    assert_no_key(&out);
}

#[test]
fn check_shows_the_status_of_each_public_url_domain() {
    let emu = Emulator::start_with_key(KEY, 100);
    emu.add_domain("photos.example", Some(KEY));
    emu.set_domain_status("photos.example", -3);
    let env = TestEnv::new();
    std::fs::create_dir(env.path("more")).unwrap();
    env.configure(&Config::emulator(&emu).folders(vec![
        Folder::replace("photos").with("public_url", r#""https://photos.example/p""#),
        Folder::replace("more").with("public_url", r#""https://unknown.example/""#),
    ]));
    let out = env.run(&["check"]);
    out.expect_code(0).expect_mentions(&[
        "! domain photos.example: not reachable by ShortPixel (status -3)",
        "! domain unknown.example: ShortPixel does not know it",
        "domain add unknown.example",
    ]);
    assert!(!out.all().contains(KEY), "G8:\n{out}");
    let reads = emu
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Domain)
        .count();
    assert_eq!(reads, 2, "{}", log_summary(&emu));
}
