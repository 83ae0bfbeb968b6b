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
//! - Login: after [`LOGIN_FAILURES`] wrong passwords within [`LOGIN_WINDOW`] from one client (its
//!   IP address; an IPv6 /64 counts as one client, and a request without a peer address, as in
//!   tests, is the client "unknown"), that client's logins answer 429 for [`LOGIN_LOCKOUT`] (the
//!   right password too). Other clients are not affected, so a guesser cannot lock the owner out.
//!   The table holds at most [`MAX_LOGIN_CLIENTS`] clients; when it is full of clients still
//!   counted, clients without an entry share one password check per [`LOGIN_BACKSTOP`], so many
//!   addresses cannot buy many guesses either. Password checks run one at a time.

use super::ApiError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
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
/// Wrong passwords from one client within [`LOGIN_WINDOW`] that lock its logins out.
pub const LOGIN_FAILURES: usize = 5;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// How long a client's logins answer 429 once locked.
pub const LOGIN_LOCKOUT: Duration = Duration::from_secs(30);
/// Clients whose wrong passwords are counted at once (a few tens of KiB at most).
pub const MAX_LOGIN_CLIENTS: usize = 256;
/// While the table is full of counted clients, the clients without an entry share one password
/// check per this long (the backstop against guessing from many addresses).
pub const LOGIN_BACKSTOP: Duration = Duration::from_secs(1);
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

/// Who a login comes from, as the limiter counts it: the peer's IP address, IPv4-mapped IPv6 as
/// IPv4, other IPv6 by its /64 prefix (one host usually has the whole /64 to pick from). `None` is
/// a request without a peer address (the router called directly, as tests do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoginClient(Option<IpAddr>);

impl LoginClient {
    /// Requests whose peer is not known, all counted as one client.
    pub const UNKNOWN: LoginClient = LoginClient(None);

    pub fn new(peer: Option<SocketAddr>) -> LoginClient {
        LoginClient(peer.map(|peer| match peer.ip() {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
            },
            v4 => v4,
        }))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for LoginClient {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        Ok(LoginClient::new(peer))
    }
}

/// One client's recent wrong passwords (at most [`LOGIN_FAILURES`]) and its lockout.
#[derive(Debug)]
struct ClientFailures {
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
    last_failure: Instant,
}

impl ClientFailures {
    fn locked(&self, now: Instant) -> Option<Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Whether the entry still says anything at `now` (a lockout or a failure in the window).
    fn live(&self, now: Instant) -> bool {
        self.locked(now).is_some()
            || self
                .failures
                .back()
                .is_some_and(|t| now.saturating_duration_since(*t) < LOGIN_WINDOW)
    }
}

/// Failed logins per client, in a table of at most `cap` clients; the caller passes the time so
/// tests control it. Making room drops entries that say nothing any more, then the client whose
/// last wrong password is oldest among those not locked out; a table full of locked-out clients
/// takes no new entry, and the clients outside it share the backstop instead.
#[derive(Debug)]
pub struct LoginLimiter {
    clients: HashMap<LoginClient, ClientFailures>,
    cap: usize,
    /// When a client without an entry may next have its password checked, while the table is full.
    backstop_free_at: Option<Instant>,
}

impl Default for LoginLimiter {
    fn default() -> LoginLimiter {
        LoginLimiter::with_capacity(MAX_LOGIN_CLIENTS)
    }
}

impl LoginLimiter {
    pub fn with_capacity(cap: usize) -> LoginLimiter {
        LoginLimiter {
            clients: HashMap::new(),
            cap: cap.max(1),
            backstop_free_at: None,
        }
    }

    /// How long `client`'s logins stay refused from `now`, if it is locked out. Changes nothing.
    pub fn locked(&self, client: LoginClient, now: Instant) -> Option<Duration> {
        self.clients.get(&client).and_then(|c| c.locked(now))
    }

    /// Whether `client` may have a password checked at `now`; `Err` is how long to wait. A client
    /// without an entry while the table is full of clients still counted takes the backstop's turn.
    pub fn admit(&mut self, client: LoginClient, now: Instant) -> Result<(), Duration> {
        if let Some(entry) = self.clients.get(&client) {
            return entry.locked(now).map_or(Ok(()), Err);
        }
        if self.clients.len() >= self.cap {
            self.prune(now);
        }
        if self.clients.len() < self.cap {
            return Ok(());
        }
        match self.backstop_free_at {
            Some(at) if at > now => Err(at - now),
            _ => {
                self.backstop_free_at = Some(now + LOGIN_BACKSTOP);
                Ok(())
            }
        }
    }

    /// Records a wrong password from `client` at `now`; locks the client out on its
    /// [`LOGIN_FAILURES`]th within [`LOGIN_WINDOW`].
    pub fn failed(&mut self, client: LoginClient, now: Instant) {
        if !self.clients.contains_key(&client) && !self.make_room(now) {
            // Full of locked-out clients: this one stays outside, behind the backstop.
            return;
        }
        let entry = self
            .clients
            .entry(client)
            .or_insert_with(|| ClientFailures {
                failures: VecDeque::with_capacity(LOGIN_FAILURES),
                locked_until: None,
                last_failure: now,
            });
        entry.last_failure = now;
        while entry
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= LOGIN_WINDOW)
        {
            entry.failures.pop_front();
        }
        entry.failures.push_back(now);
        if entry.failures.len() >= LOGIN_FAILURES {
            entry.failures.clear();
            entry.locked_until = Some(now + LOGIN_LOCKOUT);
        }
    }

    /// A right password from `client`: its count starts over.
    pub fn succeeded(&mut self, client: LoginClient) {
        self.clients.remove(&client);
    }

    /// Clients in the table.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    fn prune(&mut self, now: Instant) {
        self.clients.retain(|_, c| c.live(now));
    }

    /// Room for one more entry: false when every entry is a client locked out at `now`.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.clients.len() < self.cap {
            return true;
        }
        self.prune(now);
        if self.clients.len() < self.cap {
            return true;
        }
        let oldest = self
            .clients
            .iter()
            .filter(|(_, c)| c.locked(now).is_none())
            .min_by_key(|(_, c)| c.last_failure)
            .map(|(client, _)| *client);
        match oldest {
            Some(client) => {
                self.clients.remove(&client);
                true
            }
            None => false,
        }
    }
}

/// What the auth middleware and the login handlers share.
pub(crate) struct AuthState {
    /// Replaced when the setup wizard sets the admin password.
    config: std::sync::RwLock<AuthConfig>,
    /// Setup mode and the captive portal, when the daemon runs the network.
    setup: Option<Arc<dyn super::setup::Setup>>,
    sessions: Mutex<Sessions>,
    limiter: Mutex<LoginLimiter>,
    /// One password check at a time: each takes 19 MiB and a core for a moment, and serialising
    /// them makes the failure count exact.
    verify: Semaphore,
}

impl AuthState {
    pub(crate) fn new(
        config: AuthConfig,
        setup: Option<Arc<dyn super::setup::Setup>>,
    ) -> AuthState {
        AuthState {
            config: std::sync::RwLock::new(config),
            setup,
            sessions: Mutex::new(Sessions::default()),
            limiter: Mutex::new(LoginLimiter::default()),
            verify: Semaphore::new(1),
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_set()
    }

    fn password_hash(&self) -> String {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .password_hash
            .clone()
    }

    /// A new admin password (the setup wizard): every session ends.
    pub(crate) fn set_password_hash(&self, hash: String) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = AuthConfig::new(hash);
        *self.sessions() = Sessions::default();
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
    if let Some(setup) = &auth.setup {
        if let Some(redirect) = super::setup::captive_redirect(&**setup, path, request.headers()) {
            return redirect;
        }
        if super::setup::is_setup_path(path) {
            if !setup.is_open() {
                return super::setup::closed().into_response();
            }
            // Before an admin password exists, whoever is on the access point is the owner.
            if !auth.is_set() {
                return next.run(request).await;
            }
        }
    }
    if path == "/api/login"
        || path == "/api/logout"
        || path == "/api/session"
        || super::ui::is_public(path)
    {
        return next.run(request).await;
    }
    if !auth.is_set() {
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
    client: LoginClient,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !auth.is_set() {
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
    // A locked-out client is answered at once, without queueing for the password check.
    if let Some(left) = auth.limiter().locked(client, Instant::now()) {
        return Err(too_many(left));
    }
    let _permit = auth
        .verify
        .acquire()
        .await
        .map_err(|_| ApiError::unavailable("the server is stopping"))?;
    // Again with the permit held: the failures of the checks before this one are counted now.
    auth.limiter()
        .admit(client, Instant::now())
        .map_err(too_many)?;
    let hash = auth.password_hash();
    let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
        .await
        .map_err(super::error::join_failed)?;
    if !ok {
        auth.limiter().failed(client, Instant::now());
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong password"));
    }
    auth.limiter().succeeded(client);
    let id = auth.sessions().create(Instant::now());
    let mut response = Json(serde_json::json!({ "ok": true })).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie_header(&id, SESSION_MAX_AGE));
    Ok(response)
}

/// 429 with `Retry-After`: the seconds left, rounded up.
fn too_many(left: Duration) -> ApiError {
    let secs = left.as_secs() as u32 + u32::from(left.subsec_nanos() > 0);
    ApiError {
        retry_after: Some(secs),
        ..ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many wrong passwords; try again in {secs} s"),
        )
    }
}

/// `GET /api/session`, open to anyone: what the page should show first, so that loading it makes
/// no request that fails. `logged_in`: the cookie's session is live; `password_set`: an admin
/// password exists (else the wizard sets one); `setup`: the setup wizard is open.
pub(crate) async fn session(State(auth): State<Arc<AuthState>>, headers: HeaderMap) -> Response {
    let logged_in = auth.is_set()
        && session_cookie(&headers).is_some_and(|id| auth.sessions().check(id, Instant::now()));
    let setup = auth.setup.as_ref().is_some_and(|s| s.is_open());
    Json(serde_json::json!({
        "logged_in": logged_in,
        "password_set": auth.is_set(),
        "setup": setup,
    }))
    .into_response()
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

    fn client(n: u32) -> LoginClient {
        LoginClient::new(Some(SocketAddr::from((
            [10, 0, (n >> 8) as u8, n as u8],
            40000,
        ))))
    }

    #[test]
    fn limiter_locks_a_client_after_five_failures_in_a_minute() {
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let a = client(1);
        let mut limiter = LoginLimiter::default();
        // Failures 20 s apart (at most 3 in any minute) never lock.
        for i in 0..8u32 {
            limiter.failed(a, t0 + i * 20 * sec);
            assert_eq!(limiter.admit(a, t0 + i * 20 * sec), Ok(()), "failure {i}");
        }
        let t1 = t0 + 1000 * sec;
        for i in 0..4u32 {
            limiter.failed(a, t1 + i * sec);
        }
        assert_eq!(limiter.locked(a, t1 + 4 * sec), None);
        limiter.failed(a, t1 + 5 * sec);
        assert_eq!(limiter.locked(a, t1 + 5 * sec), Some(LOGIN_LOCKOUT));
        assert_eq!(limiter.admit(a, t1 + 25 * sec), Err(10 * sec));
        assert_eq!(limiter.admit(a, t1 + 35 * sec), Ok(()));
        // A success starts the count over.
        for i in 0..4u32 {
            limiter.failed(a, t1 + (40 + i) * sec);
        }
        limiter.succeeded(a);
        assert!(limiter.is_empty());
        limiter.failed(a, t1 + 45 * sec);
        assert_eq!(limiter.locked(a, t1 + 45 * sec), None);
    }

    #[test]
    fn a_locked_out_client_does_not_lock_out_another() {
        let t0 = Instant::now();
        let (a, b) = (client(1), client(2));
        let mut limiter = LoginLimiter::default();
        for _ in 0..LOGIN_FAILURES {
            limiter.failed(a, t0);
        }
        assert_eq!(limiter.admit(a, t0), Err(LOGIN_LOCKOUT));
        assert_eq!(limiter.admit(b, t0), Ok(()));
        assert_eq!(limiter.admit(LoginClient::UNKNOWN, t0), Ok(()));
        // B's own failures count for B alone.
        limiter.failed(b, t0);
        assert_eq!(limiter.admit(b, t0), Ok(()));
        assert_eq!(limiter.admit(a, t0), Err(LOGIN_LOCKOUT));
    }

    #[test]
    fn clients_are_addresses_with_ipv6_by_prefix() {
        let v6 = |text: &str| LoginClient::new(Some(SocketAddr::new(text.parse().unwrap(), 1)));
        assert_eq!(v6("2001:db8::1"), v6("2001:db8::ffff:1234"));
        assert_ne!(v6("2001:db8::1"), v6("2001:db8:0:1::1"));
        assert_eq!(v6("::ffff:192.168.1.7"), client_at([192, 168, 1, 7], 2));
        assert_eq!(
            client_at([192, 168, 1, 7], 1),
            client_at([192, 168, 1, 7], 2)
        );
        assert_ne!(
            client_at([192, 168, 1, 7], 1),
            client_at([192, 168, 1, 8], 1)
        );
        assert_ne!(client_at([192, 168, 1, 7], 1), LoginClient::UNKNOWN);
    }

    fn client_at(ip: [u8; 4], port: u16) -> LoginClient {
        LoginClient::new(Some(SocketAddr::from((ip, port))))
    }

    #[test]
    fn the_table_stays_bounded_under_many_addresses() {
        let t0 = Instant::now();
        let ms = Duration::from_millis(1);
        let mut limiter = LoginLimiter::default();
        // Thousands of addresses, a wrong password each, faster than entries expire.
        for n in 0..5000u32 {
            limiter.failed(client(n), t0 + n * ms);
            assert!(
                limiter.len() <= MAX_LOGIN_CLIENTS,
                "{} at {n}",
                limiter.len()
            );
        }
        assert_eq!(limiter.len(), MAX_LOGIN_CLIENTS);
        // The newest are counted: the oldest entries not locked out made room.
        assert!(limiter.clients.contains_key(&client(4999)));
        assert!(!limiter.clients.contains_key(&client(0)));
        // While it is full, a newcomer takes the backstop's turn, one per LOGIN_BACKSTOP.
        let now = t0 + 5000 * ms;
        assert_eq!(limiter.admit(client(6000), now), Ok(()));
        assert_eq!(limiter.admit(client(6001), now), Err(LOGIN_BACKSTOP));
        // A client in the table is not held back by it.
        assert_eq!(limiter.admit(client(4999), now), Ok(()));
    }

    #[test]
    fn a_table_full_of_locked_clients_leaves_the_rest_to_the_backstop() {
        let t0 = Instant::now();
        let mut limiter = LoginLimiter::with_capacity(4);
        for n in 0..4 {
            for _ in 0..LOGIN_FAILURES {
                limiter.failed(client(n), t0);
            }
        }
        assert_eq!(limiter.len(), 4);
        // Locked clients are never evicted: a newcomer's failures are not stored...
        limiter.failed(client(10), t0);
        assert_eq!(limiter.len(), 4);
        for n in 0..4 {
            assert_eq!(limiter.admit(client(n), t0), Err(LOGIN_LOCKOUT));
        }
        // ...and the newcomers share one check per LOGIN_BACKSTOP.
        assert_eq!(limiter.admit(client(10), t0), Ok(()));
        assert_eq!(limiter.admit(client(11), t0), Err(LOGIN_BACKSTOP));
        assert_eq!(limiter.admit(client(10), t0), Err(LOGIN_BACKSTOP));
        let later = t0 + LOGIN_BACKSTOP;
        assert_eq!(limiter.admit(client(11), later), Ok(()));
        assert_eq!(limiter.admit(client(12), later), Err(LOGIN_BACKSTOP));
        // Once the lockouts end, the entries expire and everyone is counted again.
        let free = t0 + LOGIN_LOCKOUT;
        assert_eq!(limiter.admit(client(12), free), Ok(()));
        limiter.failed(client(12), free);
        assert_eq!(limiter.len(), 1);
        assert_eq!(limiter.admit(client(13), free), Ok(()));
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
