//! HTTP CONNECT through the proxy named by `HTTPS_PROXY` (or `ALL_PROXY`), unless `NO_PROXY` exempts the host —
//! the same variables, and the same reading of them, as curl and reqwest. Only the tunnel needs this; ARM requests
//! go through reqwest, which does it itself.

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    pub host: String,
    pub port: u16,
    /// `Basic ...` credentials from the proxy URL, if it had any.
    authorization: Option<String>,
}

/// Why the HTTPS proxy did not open the way to the gateway.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpProxyError {
    #[error("cannot reach the HTTPS proxy {proxy}: {source}; check HTTPS_PROXY, or exempt the host with NO_PROXY")]
    Unreachable { proxy: String, source: std::io::Error },
    #[error(
        "the HTTPS proxy {proxy} requires authentication (HTTP 407); put the credentials in HTTPS_PROXY (http://user:password@host:port) or exempt the host with NO_PROXY"
    )]
    AuthenticationRequired { proxy: String },
    #[error(
        "the HTTPS proxy {proxy} refused to connect to {target}: {status}; ask for *.azureml.ms (and your cloud's Azure ML domains) to be allowed, or exempt the host with NO_PROXY"
    )]
    Refused { proxy: String, target: String, status: String },
}

fn env_any(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| std::env::var(n).ok()).filter(|v| !v.trim().is_empty())
}

/// The proxy to use for `host`, if any.
pub(crate) fn for_host(host: &str) -> Option<Proxy> {
    let url = env_any(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"])?;
    if let Some(no_proxy) = env_any(&["NO_PROXY", "no_proxy"])
        && exempt(host, &no_proxy)
    {
        return None;
    }
    parse(&url)
}

/// curl's NO_PROXY: `*` for everything, otherwise comma-separated names matching the host or a parent domain
/// (with or without a leading dot), or IP addresses; a `:port` suffix is ignored.
fn exempt(host: &str, no_proxy: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.trim_start_matches('[');
        let entry = match entry.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.contains(':') => name,
            _ => entry,
        };
        let entry = entry.trim_end_matches(']').trim_start_matches('.').to_ascii_lowercase();
        host == entry || host.ends_with(&format!(".{entry}"))
    })
}

fn parse(url: &str) -> Option<Proxy> {
    let with_scheme = if url.contains("://") { url.to_owned() } else { format!("http://{url}") };
    let parsed = reqwest::Url::parse(&with_scheme).ok()?;
    if parsed.scheme() != "http" {
        tracing::warn!("ignoring proxy {url:?}: only http:// proxies are supported for the tunnel");
        return None;
    }
    let authorization = (!parsed.username().is_empty()).then(|| {
        let user = percent_decode(parsed.username());
        let password = percent_decode(parsed.password().unwrap_or(""));
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    });
    Some(Proxy { host: parsed.host_str()?.to_owned(), port: parsed.port().unwrap_or(80), authorization })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(value) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Opens a TCP connection to `target_host:target_port` through `proxy`.
pub async fn connect(proxy: &Proxy, target_host: &str, target_port: u16) -> Result<TcpStream, HttpProxyError> {
    let name = format!("{}:{}", proxy.host, proxy.port);
    let unreachable = |source| HttpProxyError::Unreachable { proxy: name.clone(), source };
    let mut stream = TcpStream::connect((proxy.host.as_str(), proxy.port)).await.map_err(unreachable)?;
    let target = format!("{target_host}:{target_port}");
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = &proxy.authorization {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.map_err(unreachable)?;

    let head = read_head(&mut stream).await.map_err(unreachable)?;
    match Answer::read(&head) {
        Answer::Connected => Ok(stream),
        Answer::AuthenticationRequired => Err(HttpProxyError::AuthenticationRequired { proxy: name }),
        Answer::Refused { status_line } => Err(HttpProxyError::Refused { proxy: name, target, status: status_line }),
    }
}

/// A proxy's answer head is a status line and a few headers; anything longer is not one, and a proxy that sends
/// a line without end must not grow our memory with it.
const MAX_HEAD: usize = 16 * 1024;

/// The answer's head, up to and including the blank line that ends it (or the end of the stream). Read byte by
/// byte, so that nothing after the head is taken from the stream: the proxy sends nothing more until the tunnel
/// carries data, and then it is the gateway's.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if head.len() >= MAX_HEAD {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "its answer's head is over 16 KiB"));
        }
        if stream.read(&mut byte).await? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// What a proxy's answer head says, read once.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// 200: the tunnel is open.
    Connected,
    /// 407: the proxy wants credentials.
    AuthenticationRequired,
    /// Anything else, with the status line as the user should see it (one line, bounded, escaped).
    Refused { status_line: String },
}

impl Answer {
    /// Reads the status line of `head`; the headers after it do not matter here.
    pub(crate) fn read(head: &[u8]) -> Answer {
        let text = String::from_utf8_lossy(head);
        let status_line = text.split('\n').next().unwrap_or_default().trim_end_matches('\r');
        let mut words = status_line.split(' ');
        let code = match (words.next(), words.next()) {
            (Some(version), Some(code)) if version.starts_with("HTTP/") => code,
            _ => "",
        };
        match code {
            "200" => Answer::Connected,
            "407" => Answer::AuthenticationRequired,
            _ => Answer::Refused { status_line: crate::util::text::one_line_max(status_line, 200) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_matching_follows_curl() {
        assert!(exempt("ci1.eastus2.instances.azureml.ms", "localhost,.azureml.ms"));
        assert!(exempt("ci1.eastus2.instances.azureml.ms", "instances.azureml.ms"));
        assert!(exempt("localhost", "localhost:8443"));
        assert!(exempt("anything", "*"));
        assert!(exempt("127.0.0.1", "10.0.0.1, 127.0.0.1"));
        assert!(!exempt("notazureml.ms", "azureml.ms"));
        assert!(!exempt("example.com", ""));
    }

    #[test]
    fn answers_are_read_by_their_status_line_alone() {
        assert_eq!(Answer::read(b"HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n"), Answer::Connected);
        assert_eq!(Answer::read(b"HTTP/1.0 200 OK\n\n"), Answer::Connected);
        assert_eq!(Answer::read(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"), Answer::AuthenticationRequired);
        let Answer::Refused { status_line } = Answer::read(b"HTTP/1.1 403 Forbidden\r\n\r\n") else { panic!() };
        assert_eq!(status_line, "HTTP/1.1 403 Forbidden");
        for odd in [&b""[..], b"200 OK\r\n\r\n", b"HTTP/1.1  200\r\n\r\n", b"SSH-2.0-OpenSSH\r\n", b"\xff\xfe"] {
            assert!(matches!(Answer::read(odd), Answer::Refused { .. }), "{odd:?}");
        }
    }

    #[test]
    fn proxy_urls_parse_with_credentials() {
        let p = parse("http://us%40er:p%3Ass@proxy.corp:3128").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.corp", 3128));
        let expected = base64::engine::general_purpose::STANDARD.encode("us@er:p:ss");
        assert_eq!(p.authorization, Some(format!("Basic {expected}")));
        assert_eq!(parse("proxy.corp:8080").unwrap().port, 8080);
        assert!(parse("socks5://proxy:1080").is_none());
    }
}
