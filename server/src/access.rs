//! Who may `POST /publish`: loopback peers by default, or anyone holding the `--publish-token`.
//!
//! Publishing puts data in front of every subscriber and into the replay ring, so it is
//! closed unless allowed:
//!
//! * Without a token, only peers on a loopback address (`127.0.0.0/8`, `::1`) may
//!   publish; anyone else gets 403. Behind a reverse proxy on the same host every peer
//!   is loopback: set a token then.
//! * With `--publish-token` (or `SSE_PUBLISH_TOKEN`), every publisher, loopback or not,
//!   must send `Authorization: Bearer <token>`; a missing or wrong one gets 401.
//!
//! The token is never printed: [`Secret`] debug-prints as `***`, and it is compared in
//! time independent of where the first difference lies.

use std::net::SocketAddr;

use axum::http::{HeaderMap, header};

/// A string that is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// Whether `candidate` equals the secret; the time taken depends only on the lengths.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let secret = self.0.as_bytes();
        if secret.len() != candidate.len() {
            return false;
        }
        secret
            .iter()
            .zip(candidate)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The publishing rule of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishAccess {
    /// Loopback peers only (the default).
    LoopbackOnly,
    /// Anyone with `Authorization: Bearer <token>`.
    Token(Secret),
}

/// Why a publish was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No or a wrong bearer token (401).
    BadToken,
    /// Not a loopback peer and no token is configured (403).
    NotLoopback,
}

impl PublishAccess {
    /// Whether `peer`, sending `headers`, may publish.
    ///
    /// # Errors
    /// The [`Refusal`] to answer with.
    pub fn check(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Result<(), Refusal> {
        match self {
            Self::LoopbackOnly => match peer {
                Some(peer) if peer.ip().is_loopback() => Ok(()),
                // In-process callers without a socket have no peer: refused too.
                _ => Err(Refusal::NotLoopback),
            },
            Self::Token(secret) => {
                let presented = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
                match presented {
                    Some(token) if secret.matches(token) => Ok(()),
                    _ => Err(Refusal::BadToken),
                }
            }
        }
    }
}

/// What a server bound to `addr` exposes beyond this host, or `None` on a loopback address.
pub fn exposure_warning(addr: SocketAddr, access: &PublishAccess) -> Option<String> {
    if addr.ip().is_loopback() {
        return None;
    }
    let publish = match access {
        PublishAccess::LoopbackOnly => {
            "POST /publish is refused (403) to them; set --publish-token to let them publish"
        }
        PublishAccess::Token(_) => "POST /publish is open to them with the --publish-token",
    };
    Some(format!(
        "listening on non-loopback address {addr}: other hosts can open streams (/events, /sse) \
         and read /metrics (process figures); {publish}; bind 127.0.0.1 to keep it local"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(addr: &str) -> Option<SocketAddr> {
        Some(addr.parse().unwrap())
    }

    #[test]
    fn loopback_only_by_default() {
        let access = PublishAccess::LoopbackOnly;
        let none = HeaderMap::new();
        assert_eq!(access.check(peer("127.0.0.1:5000"), &none), Ok(()));
        assert_eq!(access.check(peer("127.8.9.10:5000"), &none), Ok(()));
        assert_eq!(access.check(peer("[::1]:5000"), &none), Ok(()));
        assert_eq!(
            access.check(peer("192.168.1.20:5000"), &none),
            Err(Refusal::NotLoopback)
        );
        assert_eq!(
            access.check(peer("[2001:db8::1]:5000"), &none),
            Err(Refusal::NotLoopback)
        );
        assert_eq!(access.check(None, &none), Err(Refusal::NotLoopback));
    }

    #[test]
    fn token_is_required_from_everyone() {
        let access = PublishAccess::Token(Secret::new("s3cret".to_owned()));
        let mut headers = HeaderMap::new();
        assert_eq!(
            access.check(peer("127.0.0.1:5000"), &headers),
            Err(Refusal::BadToken)
        );
        headers.insert(header::AUTHORIZATION, "Bearer s3cre7".parse().unwrap());
        assert_eq!(
            access.check(peer("10.0.0.1:5000"), &headers),
            Err(Refusal::BadToken)
        );
        headers.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert_eq!(access.check(peer("10.0.0.1:5000"), &headers), Ok(()));
    }

    #[test]
    fn binding_beyond_loopback_warns_what_is_exposed() {
        let local = "127.0.0.1:8000".parse().unwrap();
        assert_eq!(exposure_warning(local, &PublishAccess::LoopbackOnly), None);
        for any in ["0.0.0.0:8000", "[::]:8000"] {
            let warning = exposure_warning(any.parse().unwrap(), &PublishAccess::LoopbackOnly).unwrap();
            assert!(warning.contains(any) && warning.contains("403"), "{warning}");
        }
        let token = PublishAccess::Token(Secret::new("s3cret".to_owned()));
        let warning = exposure_warning("0.0.0.0:1".parse().unwrap(), &token).unwrap();
        assert!(
            warning.contains("--publish-token") && !warning.contains("s3cret"),
            "{warning}"
        );
    }

    #[test]
    fn secret_is_never_printed() {
        let access = PublishAccess::Token(Secret::new("s3cret".to_owned()));
        assert_eq!(format!("{access:?}"), "Token(***)");
    }
}
