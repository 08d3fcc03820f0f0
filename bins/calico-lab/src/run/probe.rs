//! Real packets: listeners in the destination pods (TCP and SCTP accept, UDP echo) and probes
//! from the source pods (TCP/SCTP connect, UDP request and reply, ICMP echo or timestamp
//! over a raw socket). Each probe runs in its own thread inside the source pod's namespace,
//! all of a case at once, each bounded by the timeout.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::LabError;
use super::netns::enter;

/// The transport of a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Proto {
    /// From a scenario's protocol name (`TCP`, `UDP`, `SCTP`, any case).
    pub fn parse(name: &str) -> Option<Proto> {
        match name.to_ascii_uppercase().as_str() {
            "TCP" => Some(Proto::Tcp),
            "UDP" => Some(Proto::Udp),
            "SCTP" => Some(Proto::Sctp),
            _ => None,
        }
    }

    fn socket(self, domain: Domain) -> std::io::Result<Socket> {
        match self {
            Proto::Tcp => Socket::new(domain, Type::STREAM, Some(Protocol::TCP)),
            Proto::Udp => Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)),
            Proto::Sctp => Socket::new(domain, Type::STREAM, Some(Protocol::from(132))),
        }
    }
}

/// What to send.
#[derive(Clone, Copy, Debug)]
pub enum ProbeKind {
    /// Connect (TCP, SCTP) or request/response (UDP) to a port.
    Port(Proto, u16),
    /// ICMP request of this type (8 echo, 13 timestamp) and code.
    Icmp(u8, u8),
    /// ICMPv6 echo request with this code.
    Icmp6(u8),
}

/// How often blocked listener calls wake up to check for shutdown.
const LISTENER_TICK: Duration = Duration::from_millis(100);

/// Whether this kernel can make SCTP sockets (checked in `netns`).
pub fn sctp_supported(netns: &str) -> bool {
    let ns = netns.to_string();
    std::thread::spawn(move || enter(&ns).is_ok() && Proto::Sctp.socket(Domain::IPV4).is_ok())
        .join()
        .unwrap_or(false)
}

/// Listeners running in pod namespaces; stopped (and their threads joined) on drop.
pub struct Listeners {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Listeners {
    /// Starts one listener per (`netns`, protocol, port). Returns once every socket is bound
    /// and listening, or the first error.
    pub fn start(specs: &[(String, Proto, u16)]) -> Result<Listeners, LabError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut me = Listeners {
            stop: stop.clone(),
            threads: Vec::new(),
        };
        let (tx, rx) = std::sync::mpsc::channel::<Result<(), LabError>>();
        for (ns, proto, port) in specs.iter().cloned() {
            let stop = stop.clone();
            let tx = tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("listen-{port}"))
                .spawn(move || {
                    let sock = enter(&ns).and_then(|()| {
                        listen(proto, port).map_err(|e| LabError::Io {
                            what: format!("listen on {proto:?} port {port} in {ns}"),
                            source: e,
                        })
                    });
                    match sock {
                        Ok(sock) => {
                            let _ = tx.send(Ok(()));
                            serve(proto, sock, &stop);
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                })
                .map_err(|e| LabError::Io {
                    what: "start a listener thread".into(),
                    source: e,
                })?;
            me.threads.push(handle);
        }
        drop(tx);
        for _ in 0..specs.len() {
            match rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(LabError::Cleanup("a listener thread died".into())),
            }
        }
        Ok(me)
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A dual-stack listener (`[::]`, IPv4 mapped) on `port`.
fn listen(proto: Proto, port: u16) -> std::io::Result<Socket> {
    let sock = proto.socket(Domain::IPV6)?;
    sock.set_only_v6(false)?;
    sock.set_reuse_address(true)?;
    let addr = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0));
    sock.bind(&addr.into())?;
    if proto != Proto::Udp {
        sock.listen(1024)?;
    }
    sock.set_read_timeout(Some(LISTENER_TICK))?;
    Ok(sock)
}

fn serve(proto: Proto, sock: Socket, stop: &AtomicBool) {
    match proto {
        Proto::Udp => {
            let sock = std::net::UdpSocket::from(sock);
            let mut buf = [0u8; 1500];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let _ = sock.send_to(&buf[..n], from);
                }
            }
        }
        Proto::Tcp | Proto::Sctp => {
            // The handshake is what a probe checks; accepted connections are closed at once.
            while !stop.load(Ordering::Relaxed) {
                let _ = sock.accept();
            }
        }
    }
}

/// Sends one probe from inside `src_ns` (from `src_ip` when given: a namespace with several
/// addresses) to `dst`; `Ok(true)` when the connection was established or the reply arrived
/// within `timeout`.
pub fn send(
    src_ns: &str,
    src_ip: Option<IpAddr>,
    dst: IpAddr,
    kind: ProbeKind,
    timeout: Duration,
) -> Result<bool, LabError> {
    enter(src_ns)?;
    let io = |e: std::io::Error| LabError::Io {
        what: format!("probe {kind:?} to {dst} from {src_ns}"),
        source: e,
    };
    match kind {
        ProbeKind::Port(proto @ (Proto::Tcp | Proto::Sctp), port) => {
            let sock = proto
                .socket(Domain::for_address(SocketAddr::new(dst, port)))
                .map_err(io)?;
            bind_source(&sock, src_ip).map_err(io)?;
            let addr = SocketAddr::new(dst, port);
            match sock.connect_timeout(&addr.into(), timeout) {
                Ok(()) => Ok(true),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::TimedOut
                            | ErrorKind::WouldBlock
                            | ErrorKind::ConnectionRefused
                            | ErrorKind::HostUnreachable
                            | ErrorKind::NetworkUnreachable
                    ) =>
                {
                    Ok(false)
                }
                Err(e) => Err(io(e)),
            }
        }
        ProbeKind::Port(Proto::Udp, port) => udp(src_ip, dst, port, timeout).map_err(io),
        ProbeKind::Icmp(t, code) => match dst {
            IpAddr::V4(dst) => icmp(src_ip, dst, t, code, timeout).map_err(io),
            IpAddr::V6(_) => Err(io(std::io::Error::new(
                ErrorKind::InvalidInput,
                "an ICMP (v4) probe to an IPv6 address",
            ))),
        },
        ProbeKind::Icmp6(code) => match dst {
            IpAddr::V6(dst) => icmp6(src_ip, dst, code, timeout).map_err(io),
            IpAddr::V4(_) => Err(io(std::io::Error::new(
                ErrorKind::InvalidInput,
                "an ICMPv6 probe to an IPv4 address",
            ))),
        },
    }
}

/// Binds `sock` to a source address (port 0), when one is given.
fn bind_source(sock: &Socket, src: Option<IpAddr>) -> std::io::Result<()> {
    match src {
        Some(ip) => sock.bind(&SocketAddr::new(ip, 0).into()),
        None => Ok(()),
    }
}

static NEXT_ID: AtomicU16 = AtomicU16::new(1);

fn udp(src: Option<IpAddr>, dst: IpAddr, port: u16, timeout: Duration) -> std::io::Result<bool> {
    let any: IpAddr = match src {
        Some(ip) => ip,
        None if dst.is_ipv6() => Ipv6Addr::UNSPECIFIED.into(),
        None => Ipv4Addr::UNSPECIFIED.into(),
    };
    let sock = std::net::UdpSocket::bind((any, 0))?;
    sock.connect((dst, port))?;
    let token = format!(
        "calico-lab {} {}",
        std::process::id(),
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    );
    let deadline = Instant::now() + timeout;
    // Sent twice (at the start and halfway) so that one lost datagram is not a "deny".
    let mut resend_at = Some(Instant::now() + timeout / 2);
    sock.send(token.as_bytes())?;
    let mut buf = [0u8; 1500];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let wake = resend_at.map_or(deadline, |r| r.min(deadline));
        sock.set_read_timeout(Some(
            wake.saturating_duration_since(now)
                .max(Duration::from_millis(1)),
        ))?;
        match sock.recv(&mut buf) {
            Ok(n) if &buf[..n] == token.as_bytes() => return Ok(true),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // An ICMP error (port unreachable) from a listener-less port: no reply.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Ok(false),
            Err(e) => return Err(e),
        }
        if resend_at.is_some_and(|r| Instant::now() >= r) {
            resend_at = None;
            sock.send(token.as_bytes())?;
        }
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn icmp(
    src: Option<IpAddr>,
    dst: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    timeout: Duration,
) -> std::io::Result<bool> {
    let reply_type = match icmp_type {
        8 => 0,
        13 => 14,
        other => {
            return Err(std::io::Error::new(
                ErrorKind::Unsupported,
                format!("ICMP type {other} has no reply to wait for"),
            ));
        }
    };
    let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
    bind_source(&sock, src)?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut pkt = vec![icmp_type, code, 0, 0];
    pkt.extend_from_slice(&id.to_be_bytes());
    pkt.extend_from_slice(&1u16.to_be_bytes());
    // Echo carries a payload; timestamp carries three 32-bit timestamps.
    pkt.extend_from_slice(&[0u8; 12]);
    let sum = checksum(&pkt);
    pkt[2..4].copy_from_slice(&sum.to_be_bytes());
    let to = SocketAddr::new(IpAddr::V4(dst), 0);
    exchange(&sock, &pkt, to, timeout, |data| {
        // The IPv4 header comes first on a raw ICMP socket.
        let ihl = usize::from(data.first().copied().unwrap_or(0) & 0x0f) * 4;
        if data.len() < ihl + 8 || ihl < 20 {
            return false;
        }
        let src = Ipv4Addr::new(data[12], data[13], data[14], data[15]);
        let icmp = &data[ihl..];
        src == dst && icmp[0] == reply_type && u16::from_be_bytes([icmp[4], icmp[5]]) == id
    })
}

/// Sends `pkt` to `to` (again at half the timeout, so one lost packet is not a "no"), and
/// waits until a received packet satisfies `is_reply`; false when `timeout` passes first.
fn exchange(
    sock: &Socket,
    pkt: &[u8],
    to: SocketAddr,
    timeout: Duration,
    is_reply: impl Fn(&[u8]) -> bool,
) -> std::io::Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut resend_at = Some(Instant::now() + timeout / 2);
    sock.send_to(pkt, &to.into())?;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let wake = resend_at.map_or(deadline, |r| r.min(deadline));
        sock.set_read_timeout(Some(
            wake.saturating_duration_since(now)
                .max(Duration::from_millis(1)),
        ))?;
        let mut reader = sock;
        let mut bytes = [0u8; 1500];
        match std::io::Read::read(&mut reader, &mut bytes) {
            Ok(n) if is_reply(&bytes[..n]) => return Ok(true),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
        if resend_at.is_some_and(|r| Instant::now() >= r) {
            resend_at = None;
            sock.send_to(pkt, &to.into())?;
        }
    }
}

/// ICMPv6 echo over a raw socket (the kernel fills in the checksum and strips the IPv6
/// header); the reply is matched by type 129 and identifier.
fn icmp6(src: Option<IpAddr>, dst: Ipv6Addr, code: u8, timeout: Duration) -> std::io::Result<bool> {
    let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    bind_source(&sock, src)?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut pkt = vec![128, code, 0, 0];
    pkt.extend_from_slice(&id.to_be_bytes());
    pkt.extend_from_slice(&1u16.to_be_bytes());
    pkt.extend_from_slice(&[0u8; 12]);
    let to = SocketAddr::new(IpAddr::V6(dst), 0);
    // A raw ICMPv6 socket delivers the ICMPv6 message without the IPv6 header.
    exchange(&sock, &pkt, to, timeout, |data| {
        data.len() >= 8 && data[0] == 129 && u16::from_be_bytes([data[4], data[5]]) == id
    })
}
