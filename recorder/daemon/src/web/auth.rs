//! The admin session (DESIGN.md section 8): one admin password stored as an argon2id PHC string,
//! sessions kept in memory behind an `HttpOnly; SameSite=Strict` cookie, a login rate limit and a
//! CSRF rule for every state-changing request.
//!
//! The rules, also in docs/api.md:
//! - No password configured (empty hash): every route but login/logout answers 403 "set an admin
//!   password first"; login answers the same. Never open by default.
//! - Every route except `POST /api/login` and `POST /api/logout` needs a valid `moment_session`
//!   cookie, else 401.
//! - CSRF: a request with any method other than GET, HEAD and OPTIONS (login and logout included)
//!   must carry `X-Moment: 1`, or `Sec-Fetch-Site: same-origin`, or an `Origin` whose host and port
//!   equal the `Host` header; else 403. Browsers never send the custom header cross-origin without
//!   a CORS preflight, which this server never grants.
//! - Login: after [`LOGIN_FAILURES`] wrong passwords within [`LOGIN_WINDOW`], every login answers
//!   429 for [`LOGIN_LOCKOUT`] (the right password too). The limit is global, not per client: the
//!   state stays a handful of timestamps whatever an attacker sends.

use super::ApiError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "moment_session";
/// Sessions kept at once; creating one more evicts the least recently used.
pub const MAX_SESSIONS: usize = 32;
/// A session unused this long is gone.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// A session is gone this long after login, used or not.
pub const SESSION_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Wrong passwords within [`LOGIN_WINDOW`] that lock logins out.
pub const LOGIN_FAILURES: usize = 5;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// How long logins answer 429 once locked.
pub const LOGIN_LOCKOUT: Duration = Duration::from_secs(30);
/// Longest password accepted (argon2 hashes any length; this bounds the work).
pub const MAX_PASSWORD_BYTES: usize = 1024;

const SETUP_MESSAGE: &str = "set an admin password first (setup wizard)";

/// How the web is protected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// The admin password as an argon2 PHC string (`$argon2id$v=19$...`, see [`hash_password`]);
    /// empty when no password is set yet, which refuses everything.
    pub password_hash: String,
}

impl AuthConfig {
    pub fn new(password_hash: impl Into<String>) -> AuthConfig {
        AuthConfig {
            password_hash: password_hash.into(),
        }
    }

    /// Whether an admin password is set.
    pub fn is_set(&self) -> bool {
        !self.password_hash.trim().is_empty()
    }
}

/// Hashes `password` with argon2id (the crate's default parameters: 19 MiB, 2 passes) and a
/// random salt, as a PHC string for [`AuthConfig::password_hash`]. Panics only when the operating
/// system has no random source.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random source failed");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password with its default parameters")
        .to_string()
}

/// Whether `password` matches the PHC string `phc` (false when `phc` is not a valid hash). The
/// comparison inside is constant-time.
pub fn verify_password(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "web: the admin password hash is not a valid PHC string");
            false
        }
    }
}

/// A new session id: 32 random bytes as 64 lowercase hex digits.
fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Copy, Debug)]
struct Session {
    created: Instant,
    last_seen: Instant,
}

impl Session {
    fn expired(&self, now: Instant, idle: Duration, max_age: Duration) -> bool {
        now.saturating_duration_since(self.last_seen) >= idle
            || now.saturating_duration_since(self.created) >= max_age
    }
}

/// The live sessions, bounded; the caller passes the time so tests control it.
#[derive(Debug)]
pub struct Sessions {
    map: HashMap<String, Session>,
    cap: usize,
    idle: Duration,
    max_age: Duration,
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions::with_limits(MAX_SESSIONS, SESSION_IDLE, SESSION_MAX_AGE)
    }
}

impl Sessions {
    pub fn with_limits(cap: usize, idle: Duration, max_age: Duration) -> Sessions {
        Sessions {
            map: HashMap::new(),
            cap: cap.max(1),
            idle,
            max_age,
        }
    }

    /// Starts a session at `now` and returns its id; evicts expired sessions, then the least
    /// recently used one if still full.
    pub fn create(&mut self, now: Instant) -> String {
        self.prune(now);
        while self.map.len() >= self.cap {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => self.map.remove(&id),
                None => break,
            };
        }
        let id = new_session_id();
        self.map.insert(
            id.clone(),
            Session {
                created: now,
                last_seen: now,
            },
        );
        id
    }

    /// Whether `id` is a live session at `now`; a live one counts as used now, an expired one is
    /// removed.
    pub fn check(&mut self, id: &str, now: Instant) -> bool {
        let (idle, max_age) = (self.idle, self.max_age);
        let Some(session) = self.map.get_mut(id) else {
            return false;
        };
        if session.expired(now, idle, max_age) {
            self.map.remove(id);
            return false;
        }
        session.last_seen = now;
        true
    }

    /// Ends `id` (logout); false if it was not live.
    pub fn remove(&mut self, id: &str) -> bool {
        self.map.remove(id).is_some()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn prune(&mut self, now: Instant) {
        let (idle, max_age) = (self.idle, self.max_age);
        self.map.retain(|_, s| !s.expired(now, idle, max_age));
    }
}

/// Failed logins: at most [`LOGIN_FAILURES`] timestamps and a lockout end.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

impl LoginLimiter {
    /// How long logins stay refused from `now`, if they are.
    pub fn blocked(&mut self, now: Instant) -> Option<Duration> {
        match self.locked_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                self.locked_until = None;
                None
            }
            None => None,
        }
    }

    /// Records a wrong password at `now`; locks logins out on the [`LOGIN_FAILURES`]th within
    /// [`LOGIN_WINDOW`].
    pub fn failed(&mut self, now: Instant) {
        while self
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= LOGIN_WINDOW)
        {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        if self.failures.len() >= LOGIN_FAILURES {
            self.failures.clear();
            self.locked_until = Some(now + LOGIN_LOCKOUT);
        }
    }

    /// A right password: the count starts over.
    pub fn succeeded(&mut self) {
        self.failures.clear();
    }
}

/// What the auth middleware and the login handlers share.
pub(crate) struct AuthState {
    config: AuthConfig,
    sessions: Mutex<Sessions>,
    limiter: Mutex<LoginLimiter>,
    /// One password check at a time: each takes 19 MiB and a core for a moment, and serialising
    /// them makes the failure count exact.
    verify: Semaphore,
}

impl AuthState {
    pub(crate) fn new(config: AuthConfig) -> AuthState {
        AuthState {
            config,
            sessions: Mutex::new(Sessions::default()),
            limiter: Mutex::new(LoginLimiter::default()),
            verify: Semaphore::new(1),
        }
    }

    fn sessions(&self) -> MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn limiter(&self) -> MutexGuard<'_, LoginLimiter> {
        self.limiter.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `moment_session` cookie's value, if the request has one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}

/// The CSRF rule (see the module docs): whether a state-changing request may proceed.
pub fn csrf_allowed(headers: &HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if value("x-moment").is_some_and(|v| v.trim() == "1") {
        return true;
    }
    if value("sec-fetch-site").is_some_and(|v| v.trim().eq_ignore_ascii_case("same-origin")) {
        return true;
    }
    match (value("origin"), value("host")) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host.trim())),
        _ => false,
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn setup_required() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, SETUP_MESSAGE)
}

/// The middleware in front of every route: CSRF rule, then the session.
pub(crate) async fn guard(
    State(auth): State<Arc<AuthState>>,
    request: Request,
    next: Next,
) -> Response {
    if !is_safe(request.method()) && !csrf_allowed(request.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "cross-site request refused: send the header X-Moment: 1 (or an Origin matching Host)",
        )
        .into_response();
    }
    let path = request.uri().path();
    if path == "/api/login" || path == "/api/logout" || super::ui::is_public(path) {
        return next.run(request).await;
    }
    if !auth.config.is_set() {
        return setup_required().into_response();
    }
    let live = session_cookie(request.headers())
        .is_some_and(|id| auth.sessions().check(id, Instant::now()));
    if !live {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "log in first (POST /api/login); the session is missing or expired",
        )
        .into_response();
    }
    next.run(request).await
}

fn cookie_header(value: &str, max_age: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        max_age.as_secs()
    ))
    .expect("hex ids make a valid header")
}

/// `POST /api/login {"password": "..."}`.
pub(crate) async fn login(
    State(auth): State<Arc<AuthState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !auth.config.is_set() {
        return Err(setup_required());
    }
    let body = super::api::json_object(&super::api::body_bytes(body)?)?;
    let password = match body.get("password") {
        Some(serde_json::Value::String(p)) if p.len() <= MAX_PASSWORD_BYTES => p.clone(),
        Some(serde_json::Value::String(_)) => {
            return Err(ApiError::bad_request(format!(
                "password is longer than {MAX_PASSWORD_BYTES} bytes"
            )))
        }
        _ => return Err(ApiError::bad_request("password is missing or not a string")),
    };
    let _permit = auth
        .verify
        .acquire()
        .await
        .map_err(|_| ApiError::unavailable("the server is stopping"))?;
    if let Some(left) = auth.limiter().blocked(Instant::now()) {
        let secs = left.as_secs() as u32 + u32::from(left.subsec_nanos() > 0);
        return Err(ApiError {
            retry_after: Some(secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many wrong passwords; try again in {secs} s"),
            )
        });
    }
    let hash = auth.config.password_hash.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .map_err(super::error::join_failed)?;
    if !ok {
        auth.limiter().failed(Instant::now());
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong password"));
    }
    auth.limiter().succeeded();
    let id = auth.sessions().create(Instant::now());
    let mut response = Json(serde_json::json!({ "ok": true })).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie_header(&id, SESSION_MAX_AGE));
    Ok(response)
}

/// `POST /api/logout`: ends the session, if any, and clears the cookie.
pub(crate) async fn logout(State(auth): State<Arc<AuthState>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        auth.sessions().remove(id);
    }
    let mut response = Json(serde_json::json!({ "ok": true })).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie_header("", Duration::ZERO));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let hash = hash_password("correct horse");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&hash, "correct horse"));
        assert!(!verify_password(&hash, "wrong"));
        assert!(!verify_password("not a hash", "correct horse"));
        assert_ne!(hash, hash_password("correct horse"), "salted");
    }

    #[test]
    fn sessions_expire_when_idle_and_when_old() {
        let t0 = Instant::now();
        let hour = Duration::from_secs(3600);
        let mut sessions = Sessions::default();
        let id = sessions.create(t0);
        assert_eq!(id.len(), 64);
        assert!(sessions.check(&id, t0 + 11 * hour));
        // Used at 11 h, so idle only from then.
        assert!(sessions.check(&id, t0 + 22 * hour));
        assert!(!sessions.check(&id, t0 + 34 * hour + Duration::from_secs(1)));
        assert!(sessions.is_empty(), "an expired session is dropped");

        // Kept busy, a session still ends 7 days after login.
        let id = sessions.create(t0);
        let mut t = t0;
        while t + 6 * hour < t0 + SESSION_MAX_AGE {
            t += 6 * hour;
            assert!(sessions.check(&id, t));
        }
        assert!(!sessions.check(&id, t0 + SESSION_MAX_AGE));
        assert!(!sessions.check("unknown", t0));
    }

    #[test]
    fn sessions_are_capped_evicting_the_least_recently_used() {
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let mut sessions = Sessions::default();
        let ids: Vec<String> = (0..MAX_SESSIONS as u32)
            .map(|i| sessions.create(t0 + i * sec))
            .collect();
        assert_eq!(sessions.len(), MAX_SESSIONS);
        // The first one is used again, so the second is now the least recently used.
        let later = t0 + 100 * sec;
        assert!(sessions.check(&ids[0], later));
        let newest = sessions.create(later);
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(sessions.check(&ids[0], later));
        assert!(!sessions.check(&ids[1], later));
        assert!(sessions.check(&ids[2], later));
        assert!(sessions.check(&newest, later));
        assert!(sessions.remove(&newest));
        assert!(!sessions.check(&newest, later));
    }

    #[test]
    fn expired_sessions_make_room_first() {
        let t0 = Instant::now();
        let mut sessions = Sessions::with_limits(2, Duration::from_secs(10), SESSION_MAX_AGE);
        let a = sessions.create(t0);
        let b = sessions.create(t0 + Duration::from_secs(5));
        let c = sessions.create(t0 + Duration::from_secs(12));
        assert!(!sessions.check(&a, t0 + Duration::from_secs(12)));
        assert!(sessions.check(&b, t0 + Duration::from_secs(12)));
        assert!(sessions.check(&c, t0 + Duration::from_secs(12)));
    }

    #[test]
    fn limiter_locks_after_five_failures_in_a_minute() {
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let mut limiter = LoginLimiter::default();
        // Failures 20 s apart (at most 3 in any minute) never lock.
        for i in 0..8u32 {
            limiter.failed(t0 + i * 20 * sec);
            assert_eq!(limiter.blocked(t0 + i * 20 * sec), None, "failure {i}");
        }
        let t1 = t0 + 1000 * sec;
        for i in 0..4u32 {
            limiter.failed(t1 + i * sec);
        }
        assert_eq!(limiter.blocked(t1 + 4 * sec), None);
        limiter.failed(t1 + 5 * sec);
        assert_eq!(limiter.blocked(t1 + 5 * sec), Some(LOGIN_LOCKOUT));
        assert_eq!(limiter.blocked(t1 + 25 * sec), Some(10 * sec));
        assert_eq!(limiter.blocked(t1 + 35 * sec), None);
        // A success starts the count over.
        for i in 0..4u32 {
            limiter.failed(t1 + (40 + i) * sec);
        }
        limiter.succeeded();
        limiter.failed(t1 + 45 * sec);
        assert_eq!(limiter.blocked(t1 + 45 * sec), None);
    }

    #[test]
    fn csrf_rule() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        assert!(!csrf_allowed(&headers(&[])));
        assert!(csrf_allowed(&headers(&[("x-moment", "1")])));
        assert!(!csrf_allowed(&headers(&[("x-moment", "yes")])));
        assert!(csrf_allowed(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!csrf_allowed(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(csrf_allowed(&headers(&[
            ("origin", "http://moment.local:8080"),
            ("host", "moment.local:8080"),
        ])));
        assert!(!csrf_allowed(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "moment.local"),
        ])));
        assert!(!csrf_allowed(&headers(&[
            ("origin", "http://moment.local:9999"),
            ("host", "moment.local"),
        ])));
        assert!(!csrf_allowed(&headers(&[
            ("origin", "null"),
            ("host", "moment.local"),
        ])));
    }

    #[test]
    fn cookie_parsing() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; moment_session=abc ; b=2"),
        );
        assert_eq!(session_cookie(&headers), Some("abc"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xmoment_session=1"),
        );
        assert_eq!(session_cookie(&headers), None);
    }
}
