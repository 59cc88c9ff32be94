// Code generated from abi/abi.go by guest-sdk/rust/gen_test.go; DO NOT EDIT.
// Regenerate: POSTERN_UPDATE=1 go test ./guest-sdk/rust -run TestGenerated

/// The ABI version this SDK implements, packed as `postern_abi_version` returns it.
pub const ABI_VERSION: i32 = 0x0001_0002;

/// ABI limits (ABI.md "Limits").
pub mod limits {
    /// One field value.
    pub const MAX_FIELD_BYTES: usize = 65536;
    /// A key-value key.
    pub const MAX_KEY_BYTES: usize = 250;
    /// A key-value value.
    pub const MAX_KV_VALUE_BYTES: usize = 1048576;
    /// One log line; longer lines are cut.
    pub const MAX_LOG_BYTES: usize = 4096;
    /// An http_call request body.
    pub const MAX_HTTP_BODY: usize = 1048576;
    /// The largest delay_ms.
    pub const MAX_DELAY_MS: usize = 300000;
    /// The key of a keyed field (a header name).
    pub const MAX_KEY_NAME_BYTES: usize = 256;
    /// Retry verdicts per plugin per hook call.
    pub const MAX_RETRIES: usize = 5;
    /// The largest reuse_ms: one hour (ABI 1.2).
    pub const MAX_REUSE_MS: usize = 3600000;
}

/// Field numbers (ABI.md "Fields").
pub mod field {
    /// `protocol` (1, plain).
    pub const PROTOCOL: i32 = 1;
    /// `listener` (2, plain).
    pub const LISTENER: i32 = 2;
    /// `session_id` (3, plain).
    pub const SESSION_ID: i32 = 3;
    /// `client_ip` (4, plain).
    pub const CLIENT_IP: i32 = 4;
    /// `client_port` (5, plain).
    pub const CLIENT_PORT: i32 = 5;
    /// `local_ip` (6, plain).
    pub const LOCAL_IP: i32 = 6;
    /// `local_port` (7, plain).
    pub const LOCAL_PORT: i32 = 7;
    /// `tls_version` (8, plain).
    pub const TLS_VERSION: i32 = 8;
    /// `tls_cipher` (9, plain).
    pub const TLS_CIPHER: i32 = 9;
    /// `sni` (10, plain).
    pub const SNI: i32 = 10;
    /// `auth_method` (11, plain).
    pub const AUTH_METHOD: i32 = 11;
    /// `login` (12, plain).
    pub const LOGIN: i32 = 12;
    /// `password` (13, plain).
    pub const PASSWORD: i32 = 13;
    /// `login_attempt` (14, plain).
    pub const LOGIN_ATTEMPT: i32 = 14;
    /// `account` (15, plain).
    pub const ACCOUNT: i32 = 15;
    /// `auth_id` (16, plain).
    pub const AUTH_ID: i32 = 16;
    /// `http_method` (17, plain).
    pub const HTTP_METHOD: i32 = 17;
    /// `http_host` (18, plain).
    pub const HTTP_HOST: i32 = 18;
    /// `http_path` (19, plain).
    pub const HTTP_PATH: i32 = 19;
    /// `http_query` (20, plain).
    pub const HTTP_QUERY: i32 = 20;
    /// `http_header` (21, keyed: use get_key, set_key, delete_key).
    pub const HTTP_HEADER: i32 = 21;
    /// `http_cookie` (22, keyed: use get_key, set_key, delete_key).
    pub const HTTP_COOKIE: i32 = 22;
    /// `http_headers` (23, plain).
    pub const HTTP_HEADERS: i32 = 23;
    /// `upstreams` (24, plain).
    pub const UPSTREAMS: i32 = 24;
    /// `upstream_login` (25, plain).
    pub const UPSTREAM_LOGIN: i32 = 25;
    /// `upstream_password` (26, plain).
    pub const UPSTREAM_PASSWORD: i32 = 26;
    /// `message` (27, plain).
    pub const MESSAGE: i32 = 27;
    /// `delay_ms` (28, plain).
    pub const DELAY_MS: i32 = 28;
    /// `redirect_code` (29, plain).
    pub const REDIRECT_CODE: i32 = 29;
    /// `redirect_url` (30, plain).
    pub const REDIRECT_URL: i32 = 30;
    /// `cache_alias` (31, plain).
    pub const CACHE_ALIAS: i32 = 31;
    /// `client_suffix` (32, plain).
    pub const CLIENT_SUFFIX: i32 = 32;
    /// `imap_id` (33, keyed: use get_key, set_key, delete_key).
    pub const IMAP_ID: i32 = 33;
    /// `upstream` (34, plain).
    pub const UPSTREAM: i32 = 34;
    /// `route_cached` (35, plain).
    pub const ROUTE_CACHED: i32 = 35;
    /// `password_verified` (36, plain).
    pub const PASSWORD_VERIFIED: i32 = 36;
    /// `upstream_auth` (37, plain).
    pub const UPSTREAM_AUTH: i32 = 37;
    /// `only_login` (38, plain).
    pub const ONLY_LOGIN: i32 = 38;
    /// `only_protocols` (39, plain).
    pub const ONLY_PROTOCOLS: i32 = 39;
    /// `only_hosts` (40, plain).
    pub const ONLY_HOSTS: i32 = 40;
    /// `only_paths` (41, plain).
    pub const ONLY_PATHS: i32 = 41;
    /// `only_methods` (42, plain).
    pub const ONLY_METHODS: i32 = 42;
    /// `oauth_token` (43, plain).
    pub const OAUTH_TOKEN: i32 = 43;
    /// `oauth_user` (44, plain).
    pub const OAUTH_USER: i32 = 44;
    /// `pool` (45, plain).
    pub const POOL: i32 = 45;
    /// `response_status` (46, plain).
    pub const RESPONSE_STATUS: i32 = 46;
    /// `response_header` (47, keyed: use get_key, set_key, delete_key).
    pub const RESPONSE_HEADER: i32 = 47;
    /// `reuse_ms` (48, plain).
    pub const REUSE_MS: i32 = 48;
    /// The highest field number this SDK knows.
    pub const MAX: i32 = 48;
}

/// Phases for the access table: init (0), the hooks, then the events (10 + event).
pub mod phase {
    /// postern_init.
    pub const INIT: i32 = 0;
    /// The login hook (`postern_hook_login`).
    pub const LOGIN: i32 = 1;
    /// The throttle hook (`postern_hook_throttle`).
    pub const THROTTLE: i32 = 2;
    /// The route hook (`postern_hook_route`).
    pub const ROUTE: i32 = 3;
    /// The rewrite hook (`postern_hook_rewrite`).
    pub const REWRITE: i32 = 4;
    /// The response hook (`postern_hook_response`).
    pub const RESPONSE: i32 = 5;
    /// The route_decided event (`postern_event_route_decided`).
    pub const ROUTE_DECIDED: i32 = 11;
    /// The login_failed event (`postern_event_login_failed`).
    pub const LOGIN_FAILED: i32 = 12;
}

/// `ACCESS[i].1[f - 1]` is what phase `ACCESS[i].0` may do with field f:
/// 0 nothing, 1 read, 2 read and write (abi.Access).
#[allow(dead_code)]
pub(crate) const ACCESS: &[(i32, &[u8])] = &[
    (0, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 2]),
    (1, &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 2, 2, 0, 0, 0, 2, 1, 0, 0, 2, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]),
    (2, &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 2, 2, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
    (3, &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 0, 0, 2, 1, 1, 0, 2, 2, 1, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0]),
    (4, &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 0, 2, 2, 2, 2, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0]),
    (5, &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 2, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2, 0]),
    (11, &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0]),
    (12, &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
];

/// Whether field f (1-based) is keyed.
#[allow(dead_code)]
pub(crate) const KEYED: &[i32] = &[21, 22, 33, 47];
