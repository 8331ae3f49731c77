//! Who is asking: the client's address (through trusted proxies) and user agent.

use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use ipnet::IpNet;

use crate::activity::Client;
use crate::app::AppState;

/// The client's address: the socket peer, unless the peer is a trusted proxy, in which case
/// the right-most address of `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> IpAddr {
    let peer = req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if trusted.is_empty() || !trusted.iter().any(|n| n.contains(&peer)) {
        return peer;
    }
    let mut ip = peer;
    for value in req.headers().get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else { return peer };
        for part in text.split(',').rev() {
            match part.trim().parse::<IpAddr>() {
                Ok(addr) => {
                    ip = addr;
                    if !trusted.iter().any(|n| n.contains(&addr)) {
                        return addr;
                    }
                }
                Err(_) => return ip,
            }
        }
    }
    ip
}

/// Client IP and user agent of the request, for throttling, sessions and the activity log.
pub struct ClientInfo {
    pub ip: IpAddr,
    pub client: Client,
}

impl FromRequest for ClientInfo {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let st = req.app_data::<web::Data<AppState>>().expect("AppState is registered");
        let ip = client_ip(req, &st.settings.trusted_proxies);
        let ua = req.headers().get(header::USER_AGENT).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).unwrap_or_default();
        let user_agent = crate::activity::truncate(&ua, crate::activity::MAX_USER_AGENT);
        std::future::ready(Ok(ClientInfo { ip, client: Client { ip: ip.to_string(), user_agent } }))
    }
}
