//! The page's files, built into the binary (`include_str!`): nothing is fetched from
//! anywhere else. Without a configured token, the page is handed this start's token in a
//! `<meta>` tag; with one, the page asks the user for it and keeps it in the browser.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::error::ApiFailure;
use super::App;

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");
const ICON: &str = include_str!("assets/icon.svg");

pub async fn page(State(app): State<App>) -> Html<String> {
    let token = match app.token() {
        (_, true) => String::new(),
        // Drawn by the agent: hex only, so nothing to escape.
        (drawn, false) => drawn.expose().to_string(),
    };
    Html(INDEX.replace("{{TOKEN}}", &token))
}

pub async fn asset(Path(name): Path<String>) -> Response {
    let (mime, body) = match name.as_str() {
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "style.css" => ("text/css; charset=utf-8", STYLE),
        "icon.svg" => ("image/svg+xml", ICON),
        _ => return ApiFailure::not_found("no such asset").into_response(),
    };
    ([(header::CONTENT_TYPE, mime)], body).into_response()
}
