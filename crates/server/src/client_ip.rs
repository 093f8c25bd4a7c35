//! Which address a request came from, when load balancers stand in between: the peer, unless the
//! peer is a trusted proxy, in which case the nearest `X-Forwarded-For` entry that is not one.
//! Entries to the left of an untrusted hop are the client's own claims and are never believed.
use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let forwarded = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok());
    Some(nearest_untrusted(peer, forwarded, trusted))
}

fn nearest_untrusted<'a>(peer: IpAddr, forwarded: impl Iterator<Item = &'a str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> =
        forwarded.flat_map(|header| header.split(',')).filter_map(|hop| hop.trim().parse().ok()).collect();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let headers = ["6.6.6.6, 1.2.3.4", "10.0.0.7"];
        // Through two proxies: the client is the nearest untrusted hop, not what it claimed.
        assert_eq!(nearest_untrusted(ip("10.0.0.2"), headers.into_iter(), &trusted), ip("1.2.3.4"));
        // A client talking directly cannot choose its own address.
        assert_eq!(nearest_untrusted(ip("1.2.3.4"), ["9.9.9.9"].into_iter(), &trusted), ip("1.2.3.4"));
        // A trusted peer with no header is the client itself.
        assert_eq!(nearest_untrusted(ip("10.0.0.2"), std::iter::empty(), &trusted), ip("10.0.0.2"));
        // Garbage in the header is skipped.
        assert_eq!(nearest_untrusted(ip("10.0.0.2"), ["nonsense, 1.2.3.4"].into_iter(), &trusted), ip("1.2.3.4"));
        // Nothing trusted: the peer always.
        assert_eq!(nearest_untrusted(ip("10.0.0.2"), ["1.2.3.4"].into_iter(), &[]), ip("10.0.0.2"));
    }
}
