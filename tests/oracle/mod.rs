//! What the client-facing parsers promise to answer, for the property tests
//! to compare the servers' bytes with (see each file).

pub mod http_connect;
pub mod socks5;
