//! Where a webhook may point. Berth posts from inside the operator's network, so a URL a
//! repository owner types must not reach what only that network reaches: the rule is on
//! the addresses the host resolves to, not on its name (a public name can resolve to
//! 127.0.0.1), checked when the webhook is added and again at every delivery, which then
//! connects to exactly the addresses it checked (a name that resolves elsewhere a second
//! later changes nothing).

use std::net::{IpAddr, SocketAddr};

use crate::Error;

/// Characters of a webhook's URL.
pub const URL_MAX: usize = 2000;

/// A webhook URL that passed the rules, and the addresses it will be reached at.
#[derive(Debug, Clone)]
pub struct Checked {
    url: url::Url,
    pub addresses: Vec<SocketAddr>,
}

impl Checked {
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or("")
    }
}

/// A URL parsed for its host and port, before name resolution.
#[derive(Debug, Clone)]
pub struct Parsed {
    url: url::Url,
}

impl Parsed {
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or("")
    }

    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(80)
    }
}

fn refused(why: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::invalid_field("url", why)
}

/// The syntax rules: an absolute http or https URL with a host, no user name or password in
/// it (the secret signs deliveries; a password in a URL would be shown on the page), at most
/// `URL_MAX` characters.
pub fn parse(input: &str) -> Result<Parsed, Error> {
    let text = input.trim();
    if text.is_empty() {
        return Err(refused("Enter the URL Berth should post to, e.g. https://ci.example.com/hooks/berth."));
    }
    if text.chars().count() > URL_MAX {
        return Err(refused(format!("The URL can be at most {URL_MAX} characters.")));
    }
    let url = url::Url::parse(text).map_err(|_| refused("This is not a URL. Enter one like https://ci.example.com/hooks/berth."))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused("Webhooks are posted over http or https only."));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refused("The URL needs a host name."));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused("Leave user names and passwords out of the URL: each delivery is signed with the webhook's secret instead."));
    }
    Ok(Parsed { url })
}

/// Whether `ip` is an address only this network (or this machine) reaches: loopback,
/// private (RFC 1918, unique local), link-local, carrier-grade NAT, unspecified,
/// multicast, broadcast, documentation and benchmarking ranges, and IPv4 inside IPv6.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || first == 0x0064 && v6.segments()[1] == 0xff9b // NAT64 to IPv4
                || v6.segments()[..6] == [0; 6] // IPv4-compatible
        }
    }
}

/// The address rule, on the addresses `parsed`'s host resolved to: every one must be
/// outside this network unless `allow_private` (`BERTH_WEBHOOK_ALLOW_PRIVATE`).
pub fn check(parsed: Parsed, resolved: Vec<SocketAddr>, allow_private: bool) -> Result<Checked, Error> {
    if resolved.is_empty() {
        return Err(refused(format!("{} does not resolve to an address.", parsed.host())));
    }
    if !allow_private && let Some(inside) = resolved.iter().find(|a| is_internal(a.ip())) {
        return Err(refused(format!(
            "{} resolves to {}, an address inside this network: Berth posts only to public addresses unless its operator allows private ones.",
            parsed.host(),
            inside.ip()
        )));
    }
    Ok(Checked { url: parsed.url, addresses: resolved })
}

/// Resolves `parsed`'s host (an address literal resolves to itself), without blocking a
/// worker.
pub async fn resolve(parsed: &Parsed) -> Result<Vec<SocketAddr>, Error> {
    let host = parsed.host().trim_start_matches('[').trim_end_matches(']').to_string();
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, parsed.port())]);
    }
    match tokio::net::lookup_host((host.as_str(), parsed.port())).await {
        Ok(found) => Ok(found.collect()),
        Err(_) => Err(refused(format!("{host} does not resolve to an address."))),
    }
}

/// `parse`, `resolve` and `check` in turn.
pub async fn checked(input: &str, allow_private: bool) -> Result<Checked, Error> {
    let parsed = parse(input)?;
    let resolved = resolve(&parsed).await?;
    check(parsed, resolved, allow_private)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised_and_public_ones_are_not() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn only_http_urls_with_a_host_and_no_credentials_parse() {
        assert!(parse("https://ci.example.com/hook").is_ok());
        assert!(parse("http://ci.example.com:8080/hook?x=1").is_ok());
        for bad in ["", "ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)", "example.com/hook", "https://user:pw@example.com/", "http://"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&format!("https://example.com/{}", "a".repeat(URL_MAX))).is_err());
    }

    #[test]
    fn a_name_resolving_inside_the_network_is_refused_unless_allowed() {
        let loopback: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let public: SocketAddr = "93.184.216.34:443".parse().unwrap();
        let e = check(parse("http://rebind.example/").unwrap(), vec![public, loopback], false).unwrap_err();
        assert!(e.to_string().contains("127.0.0.1"), "{e}");
        assert!(check(parse("http://rebind.example/").unwrap(), vec![loopback], true).is_ok());
        assert!(check(parse("https://ci.example.com/").unwrap(), vec![public], false).is_ok());
        assert!(check(parse("https://nowhere.example/").unwrap(), vec![], true).is_err());
    }
}
