//! The HTTP target: the parts of a request the web server reads by hand rather than through
//! axum's extractors — the `Range` header, the `from`/`to` query times, the headers of the CSRF
//! rule, the session id from the cookie — and the upload-target body, whose fields are checked
//! by hand before they become rclone arguments. The input is read as a request head: the first
//! line is a header value, every `name: value` line a header, and the rest (or all) a body.

use super::{class, ensure, Outcome};
use http::{HeaderMap, HeaderName, HeaderValue};
use moment_recorder::upload::remote_setup::RemoteSpec;
use moment_recorder::web::{csrf_allowed, parse_range, parse_time_param, RangeRequest, Sessions};
use std::time::Instant;

/// File lengths a range is resolved against: empty, tiny, typical, and the edges of u64.
const LENGTHS: [u64; 5] = [0, 1, 188 * 1000, u64::MAX - 1, u64::MAX];
/// Headers read from one input, at most (hyper's own limit is 100).
const MAX_HEADERS: usize = 100;

pub fn bodies(input: &[u8]) -> Result<Outcome, String> {
    let text = String::from_utf8_lossy(input);
    let first = text.lines().next().unwrap_or_default();
    let mut parts = Vec::new();
    for value in [first, &*text] {
        parts.push(range(value)?);
        parts.push(u64::from(parse_time_param("to", value).is_ok()));
    }
    let headers = headers(input);
    parts.push(u64::from(csrf_allowed(&headers)));
    parts.push(session(&headers)?);
    parts.push(upload_target(input));
    Ok(class(&parts))
}

/// `parse_range` on every length; a partial range must lie inside the file.
fn range(value: &str) -> Result<u64, String> {
    let mut kinds = 0;
    for len in LENGTHS {
        match parse_range(value, len) {
            RangeRequest::Full => kinds |= 1,
            RangeRequest::Unsatisfiable => kinds |= 2,
            RangeRequest::Partial(r) => {
                ensure!(
                    r.start <= r.end && r.end < len,
                    "{value:?} on a {len}-byte file gave {r:?}"
                );
                ensure!(r.byte_count() >= 1, "{value:?} gave an empty range {r:?}");
                kinds |= 4;
            }
        }
    }
    Ok(kinds)
}

/// `name: value` lines as a header map; lines that are not valid headers are skipped, as hyper
/// would have refused them before the handlers.
fn headers(input: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in input.split(|&b| b == b'\n').take(MAX_HEADERS) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii_start());
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    map
}

/// Every cookie value is looked up as a session id; none may match a session it did not name.
fn session(headers: &HeaderMap) -> Result<u64, String> {
    let now = Instant::now();
    let mut sessions = Sessions::default();
    let live = sessions.create(now);
    let mut matched = 0;
    let cookies = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='));
    for (_, id) in cookies {
        let id = id.trim();
        let ok = sessions.check(id, now);
        ensure!(ok == (id == live), "session id {id:?} checked as {ok}");
        matched |= u64::from(ok);
    }
    Ok(1 + matched)
}

/// `PUT /api/upload-target`'s body: the JSON object, then the hand-written field checks that
/// guard the rclone command line.
fn upload_target(input: &[u8]) -> u64 {
    let Ok(spec) = serde_json::from_slice::<RemoteSpec>(input) else {
        return 0;
    };
    1 | u64::from(spec.create_args().is_ok()) << 1 | u64::from(spec.remote().is_ok()) << 2
}
