//! The bytes `inbound::socks5::accept` promises a client for anything it
//! sends: RFC 1928's method selection and replies, RFC 1929's status, and the
//! choices `inbound/socks5.rs` documents (BIND and UDP ASSOCIATE get 0x07, a
//! name that is no possible host 0x04). Written from those texts, not from
//! the code, so a test that compares the server's bytes with these fails
//! when a reply goes missing: a silent close no longer passes.
//!
//! Shared by `tests/parsers_prop.rs` and the `socks5_handshake` fuzz target
//! (which includes this file by path), so it uses only the product crate.

use eice_proxy::target::Host;

/// `REP` for a request whose address is cut short or not UTF-8: fast-socks5
/// (our wire format) answers every unreadable address with "connection refused".
const UNREADABLE_ADDRESS: u8 = 0x05;
/// `REP` for a BIND, an UDP ASSOCIATE or a command RFC 1928 does not define.
const COMMAND_NOT_SUPPORTED: u8 = 0x07;
/// `REP` for an `ATYP` other than 1, 3 and 4.
const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;
/// `REP` for a domain name that no target can have (`Host::parse` refuses it).
const HOST_UNREACHABLE: u8 = 0x04;

/// Everything the server writes before it closes, for `input` sent by a
/// client that then closes its side. `auth` is the configured username and
/// password; `after_accept` is the `REP` the server under test sends once
/// `accept` has produced a request (None: it sends nothing more).
pub fn promised(input: &[u8], auth: Option<(&str, &str)>, after_accept: Option<u8>) -> Vec<u8> {
    let mut answer = Vec::new();
    // `None` below means the client stopped early: the server says nothing
    // more, having had no complete message to answer.
    let _ = handshake(&mut Bytes(input), auth, after_accept, &mut answer);
    answer
}

/// The client's bytes, taken in order.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
}

/// A reply with `code` and the unspecified bound address 0.0.0.0:0.
fn reply(code: u8) -> [u8; 10] {
    [5, code, 0, 1, 0, 0, 0, 0, 0, 0]
}

fn handshake(
    input: &mut Bytes<'_>,
    auth: Option<(&str, &str)>,
    after_accept: Option<u8>,
    answer: &mut Vec<u8>,
) -> Option<()> {
    // Greeting: VER NMETHODS METHODS. Another version is not SOCKS5: no answer.
    if input.byte()? != 5 {
        return None;
    }
    let count = input.byte()?;
    let methods = input.take(count.into())?;
    let method = if auth.is_some() { 2 } else { 0 };
    if !methods.contains(&method) {
        answer.extend([5, 0xff]);
        return None;
    }
    answer.extend([5, method]);
    if let Some((user, password)) = auth {
        // RFC 1929: VER ULEN UNAME PLEN PASSWD. Empty fields are no credentials.
        let _version = input.byte()?;
        let length = input.byte()?;
        let given_user = input.take(length.into()).filter(|_| length > 0)?;
        let length = input.byte()?;
        let given_password = input.take(length.into()).filter(|_| length > 0)?;
        let given_user = std::str::from_utf8(given_user).ok()?;
        let given_password = std::str::from_utf8(given_password).ok()?;
        if given_user != user || given_password != password {
            answer.extend([1, 0xff]);
            return None;
        }
        answer.extend([1, 0]);
    }
    // Request: VER CMD RSV ATYP DST.ADDR DST.PORT.
    let version = input.byte()?;
    let command = input.byte()?;
    let _reserved = input.byte()?;
    let address_type = input.byte()?;
    if version != 5 {
        return None;
    }
    let name = match address(input, address_type) {
        Ok(name) => name,
        Err(code) => {
            answer.extend(reply(code));
            return None;
        }
    };
    if command != 1 {
        answer.extend(reply(COMMAND_NOT_SUPPORTED));
        return None;
    }
    if name.is_some_and(|name| Host::parse(&name).is_err()) {
        answer.extend(reply(HOST_UNREACHABLE));
        return None;
    }
    if let Some(code) = after_accept {
        answer.extend(reply(code));
    }
    Some(())
}

/// DST.ADDR and DST.PORT: the domain name if it is one, or the `REP` code
/// the request is refused with.
fn address(input: &mut Bytes<'_>, address_type: u8) -> Result<Option<String>, u8> {
    let name = match address_type {
        1 => input.take(4).map(|_| None),
        4 => input.take(16).map(|_| None),
        3 => input
            .byte()
            .and_then(|length| input.take(length.into()))
            .and_then(|name| String::from_utf8(name.to_vec()).ok())
            .map(Some),
        _ => return Err(ADDRESS_TYPE_NOT_SUPPORTED),
    };
    let name = name.ok_or(UNREADABLE_ADDRESS)?;
    input.take(2).ok_or(UNREADABLE_ADDRESS)?;
    Ok(name)
}
